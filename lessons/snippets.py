"""Shared snippets: a passage written once per course and placed into many lessons.

A course folder may hold `snippets/<name>.md`; a lesson places one on a line of its own:

    {{> stages }}

Snippets are placed when the files are read, so the body imported (and each version sent)
holds the text itself: editing a snippet makes a new version of every lesson that uses it on
the next import, and an email already sent keeps the words it was sent with. The shared-passage
check (`lessons.overlap`) leaves snippet text aside.
"""

from __future__ import annotations

import re
from pathlib import Path

SNIPPET_FOLDER = "snippets"
SNIPPET_NAME_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
# A snippet stands on its own line: `{{> name }}`.
USE_RE = re.compile(r"^[ \t]*\{\{>\s*([^}\s]*)\s*\}\}[ \t]*$", re.MULTILINE)


def read_snippets(folder: Path) -> tuple[dict[str, str], list[tuple[Path, str]]]:
    """The course's snippets by name, and (file, message) for each one that cannot be used."""
    snippets: dict[str, str] = {}
    problems: list[tuple[Path, str]] = []
    for path in sorted((folder / SNIPPET_FOLDER).glob("*.md")):
        if not SNIPPET_NAME_RE.match(path.stem):
            problems.append((path, f"snippet name {path.stem!r} must be lowercase words joined by hyphens"))
            continue
        try:
            text = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            problems.append((path, f"cannot read: {exc}"))
            continue
        if not text:
            problems.append((path, "snippet is empty"))
        elif USE_RE.search(text):
            problems.append((path, "a snippet cannot place another snippet"))
        else:
            snippets[path.stem] = text
    return snippets, problems


def place(body: str, snippets: dict[str, str]) -> tuple[str, list[tuple[int, str]]]:
    """The body with each `{{> name }}` line replaced by the snippet, and (0-based line, message)
    for each name the course has no snippet for (those lines are left as written)."""
    problems: list[tuple[int, str]] = []

    def replace(match: re.Match) -> str:
        name = match[1]
        if name in snippets:
            return snippets[name]
        line = body.count("\n", 0, match.start())
        known = ", ".join(sorted(snippets)) or "none in this course"
        problems.append((line, f"unknown snippet {name!r} (known: {known}; files in {SNIPPET_FOLDER}/)"))
        return match[0]

    return USE_RE.sub(replace, body), problems
