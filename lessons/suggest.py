"""Validation that helps: the closest known names for a near miss, and link addresses that
would not work in an email."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

# [text](address) and [text](address "title"); the address may hold a placeholder.
MARKDOWN_LINK_RE = re.compile(r"\[[^\]\n]*\]\(([^()\n]*(?:\([^()\n]*\)[^()\n]*)*)\)")
AUTOLINK_RE = re.compile(r"<((?:[a-zA-Z][a-zA-Z0-9+.-]*):[^>\s]*)>")
SCHEMES = ("https", "http", "mailto", "tel", "lesson")
HOST_RE = re.compile(r"^(?=.{1,253}$)(?!-)[A-Za-z0-9-]{1,63}(?:\.(?!-)[A-Za-z0-9-]{1,63})+$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def closest(word: str, options: Iterable[str], n: int = 3) -> list[str]:
    """The known names nearest `word`: the best match and any about as near as it."""
    found = difflib.get_close_matches(word, list(options), n=n, cutoff=0.6)
    ratio = [difflib.SequenceMatcher(None, word, option).ratio() for option in found]
    return [option for option, r in zip(found, ratio, strict=True) if r >= ratio[0] - 0.05]


def did_you_mean(word: str, options: Iterable[str]) -> str:
    """The hint for a near miss (did you mean first_name?), or an empty string when nothing is close."""
    found = closest(word, options)
    if not found:
        return ""
    return "did you mean " + (found[0] if len(found) == 1 else ", ".join(found[:-1]) + " or " + found[-1]) + "?"


def unknown(what: str, value: object, options: Iterable[str], listed: bool = True) -> str:
    """E.g. unknown destination 'payr': did you mean payer? (one of …)."""
    options = list(options)
    hint = did_you_mean(str(value), options)
    text = f"unknown {what} {value!r}" + (f": {hint}" if hint else "")
    return text + (f" (one of {', '.join(options)})" if listed and options else "")


def link_targets(line: str) -> list[str]:
    return [*MARKDOWN_LINK_RE.findall(line), *AUTOLINK_RE.findall(line)]


def url_problem(target: str) -> str:
    """What is wrong with a link address, or "" when it would work."""
    address = target.strip()
    if re.match(r'^\S+\s+"[^"]*"$', address):  # an address with a title
        address = address.split()[0]
    if not address:
        return "empty link address"
    if "{{" in address or address.startswith(("#", "/")):
        return ""  # a placeholder (checked elsewhere), an anchor, or a path on this site
    if re.search(r"\s", address):
        return f"link address {address!r} has a space in it"
    scheme, sep, _rest = address.partition(":")
    if not sep or not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*$", scheme):
        if re.match(r"^(www\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+(/|$)", address):
            return f"link address {address!r} has no https:// in front"
        return f"link address {address!r} is not a web address (https://…), mailto: or lesson:"
    scheme = scheme.lower()
    if scheme not in SCHEMES:
        hint = did_you_mean(scheme, SCHEMES)
        return f"link address {address!r} has an unknown scheme {scheme}:" + (f" {hint}" if hint else "")
    if scheme == "mailto":
        email = address[len("mailto:") :].split("?")[0]
        return "" if EMAIL_RE.match(email) else f"link address {address!r} is not an email address"
    if scheme in ("http", "https"):
        if not address.lower().startswith(f"{scheme}://"):
            return f"link address {address!r} needs {scheme}:// (two slashes)"
        try:
            host = urlsplit(address).hostname or ""
        except ValueError:
            host = ""
        if not HOST_RE.match(host) or host.rsplit(".", 1)[-1].isdigit():
            return f"link address {address!r} has no valid host name"
    return ""


def url_problems(body: str) -> list[tuple[int, str]]:
    """(line index, message) for every link address in `body` that would not work."""
    found = []
    for number, line in enumerate(body.splitlines()):
        for target in link_targets(line):
            message = url_problem(target)
            if message:
                found.append((number, message))
    return found
