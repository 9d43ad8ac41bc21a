"""Writing lesson and course files so that a round trip changes nothing it need not.

A file that still reads back to what is being written is returned byte for byte. Otherwise only
the lines of the settings that changed are rewritten, each in the style it had (quoting, flow or
block list, line endings); new settings go last, removed ones go, comments and the rest stay. A
file with no earlier text is written in the house style of the shipped lessons."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import yaml

KEY_RE = re.compile(r"^([A-Za-z_][\w-]*)\s*:")
FENCE = "---"

Same = Callable[[str, object, object], bool]
ABSENT = object()  # a setting the file has and the caller does not


def _equal(_key: str, left: object, right: object) -> bool:
    return left == right


def lesson_text(metadata: dict, body: str | None, original: str = "", same: Same = _equal) -> str:
    """The markdown file for `metadata` (front matter, in order) and `body` (None: the body of
    `original` as it is)."""
    if not original:
        lines = [FENCE, *(_line(key, value, "") for key, value in metadata.items()), FENCE, body]
        return "\n".join(lines) + "\n"
    newline = "\r\n" if "\r\n" in original else "\n"
    lines = original.splitlines(keepends=True)
    close = next((i for i in range(1, len(lines)) if lines[i].strip() == FENCE), None)
    if not lines or lines[0].strip() != FENCE or close is None:
        return lesson_text(metadata, body)
    head = patch_settings(lines[1:close], metadata, newline, same)
    rest = "".join(lines[close + 1 :])
    if body is not None and rest.strip().replace("\r\n", "\n") != body:
        lead = rest[: len(rest) - len(rest.lstrip())]
        tail = rest[len(rest.rstrip()) :] or newline
        rest = lead + body.replace("\n", newline) + tail
    return lines[0] + "".join(head) + lines[close] + rest


def settings_text(settings: dict, original: str = "", same: Same = _equal) -> str:
    """A YAML file of top-level settings (course.yaml), patched like a lesson's front matter."""
    if not original:
        return "".join(_block(key, value, "\n") for key, value in settings.items())
    newline = "\r\n" if "\r\n" in original else "\n"
    return "".join(patch_settings(original.splitlines(keepends=True), settings, newline, same))


def patch_settings(lines: list[str], settings: dict, newline: str, same: Same) -> list[str]:
    """`lines` of top-level `key: value` YAML with each changed setting rewritten in place."""
    spans: list[tuple[str | None, list[str]]] = []  # (key or None for a comment/blank line, its lines)
    for line in lines:
        match = KEY_RE.match(line)
        if match:
            spans.append((match[1], [line]))
        elif spans and spans[-1][0] is not None and (line[:1] in (" ", "\t", "-") or not line.strip()):
            spans[-1][1].append(line)
        else:
            spans.append((None, [line]))
    # Blank and comment lines trailing a setting belong after it, not to it.
    spans = [part for span in spans for part in _split_trailing(span)]
    out: list[str] = []
    seen: set[str] = set()
    for key, span in spans:
        if key is None:
            out.extend(span)
            continue
        seen.add(key)
        try:
            before = (yaml.safe_load("".join(span)) or {}).get(key)
        except yaml.YAMLError:
            before = ABSENT
        if key not in settings:
            if same(key, before, ABSENT):  # e.g. an explicit default the caller did not change
                out.extend(span)
            continue
        if same(key, before, settings[key]):
            out.extend(span)
        else:
            ending = span[-1][len(span[-1].rstrip("\r\n")) :] or newline
            out.append(_rewrite(key, settings[key], span, ending))
    if out and not out[-1].endswith(("\n", "\r")):
        out[-1] += newline
    for key, value in settings.items():
        if key not in seen:
            out.append(_block(key, value, newline))
    return out


def _split_trailing(span: tuple[str | None, list[str]]) -> list[tuple[str | None, list[str]]]:
    key, lines = span
    if key is None:
        return [span]
    end = len(lines)
    while end > 1 and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
        end -= 1
    return [(key, lines[:end]), *((None, [line]) for line in lines[end:])]


def _rewrite(key: str, value: object, span: list[str], ending: str) -> str:
    first = span[0]
    after = first[first.index(":") + 1 :].strip()
    comment = ""
    if " #" in after and not after.startswith(("'", '"')):
        after, comment = after.split(" #", 1)
        comment = "  #" + comment
    if isinstance(value, list) and len(span) > 1 and span[1].lstrip().startswith("-"):
        indent = span[1][: len(span[1]) - len(span[1].lstrip())]
        items = "".join(f"{indent}- {_scalar(item, '')}{ending}" for item in value)
        return f"{key}:{comment}{ending}{items}" if value else f"{key}: []{comment}{ending}"
    if isinstance(value, dict):
        return _block(key, value, ending)
    quote = after[:1] if after[:1] in ("'", '"') else ""
    return _line(key, value, quote) + comment + ending


def _block(key: str, value: object, newline: str) -> str:
    if isinstance(value, dict) or (isinstance(value, list) and any(isinstance(v, dict) for v in value)):
        text = yaml.safe_dump({key: value}, sort_keys=False, allow_unicode=True, width=10_000)
        return text.replace("\n", newline)
    return _line(key, value, '"' if key in ("subject", "price", "title", "tagline") else "") + newline


def _line(key: str, value: object, quote: str) -> str:
    if key == "subject" and not quote:
        quote = '"'
    if isinstance(value, list):
        return f"{key}: [{', '.join(_scalar(item, '') for item in value)}]"
    return f"{key}: {_scalar(value, quote)}"


def _scalar(value: object, quote: str) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    text = str(value)
    if quote == "'" and "\n" not in text:
        return "'" + text.replace("'", "''") + "'"
    if quote == '"' or not _plain_ok(text):
        return json.dumps(text, ensure_ascii=False)
    return text


def _plain_ok(text: str) -> bool:
    """Whether `text` can stand unquoted in a flow list or after `key: ` and read back the same."""
    if not text or text != text.strip() or any(c in text for c in ",[]{}#&*!|>'\"%@`\n") or ": " in text:
        return False
    try:
        return yaml.safe_load(f"k: [{text}]") == {"k": [text]} and yaml.safe_load(f"k: {text}") == {"k": text}
    except yaml.YAMLError:
        return False
