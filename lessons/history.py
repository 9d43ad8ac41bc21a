"""A lesson's history for its author: every version with where it came from and the deliveries
that used it, and the difference between any two versions (subject, body, front matter)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import yaml
from django.db.models import Count, Max, Min

from lessons.models import Lesson, LessonVersion


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "same" | "added" | "removed" | "skip"
    text: str
    old: int | None = None  # line numbers, 1-based
    new: int | None = None


@dataclass(frozen=True)
class Part:
    name: str  # "Subject", "Front matter", "Body"
    lines: list[DiffLine]

    @property
    def changed(self) -> bool:
        return any(line.kind in ("added", "removed") for line in self.lines)


def front_matter_lines(version: LessonVersion) -> list[str]:
    if not version.front_matter:
        return ["(not recorded for this version)"]
    return yaml.safe_dump(version.front_matter, sort_keys=False, allow_unicode=True, width=10_000).splitlines()


def diff_lines(old: list[str], new: list[str], context: int = 3) -> list[DiffLine]:
    """A line diff with `context` unchanged lines around each change; "skip" marks a gap."""
    out: list[DiffLine] = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for group_number, group in enumerate(matcher.get_grouped_opcodes(context)):
        if group_number or (group and (group[0][1] > 0 or group[0][3] > 0)):
            out.append(DiffLine("skip", "…"))
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                out.extend(DiffLine("same", old[i], i + 1, j1 + i - i1 + 1) for i in range(i1, i2))
                continue
            out.extend(DiffLine("removed", old[i], old=i + 1) for i in range(i1, i2))
            out.extend(DiffLine("added", new[j], new=j + 1) for j in range(j1, j2))
    return out


def compare(old: LessonVersion, new: LessonVersion) -> list[Part]:
    """What changed from `old` to `new`, part by part (an unchanged part has no lines)."""
    parts = [
        ("Subject", [old.subject], [new.subject]),
        ("Front matter", front_matter_lines(old), front_matter_lines(new)),
        ("Body", old.body.splitlines(), new.body.splitlines()),
    ]
    return [Part(name, diff_lines(before, after) if before != after else []) for name, before, after in parts]


@dataclass(frozen=True)
class VersionRow:
    version: LessonVersion
    deliveries: int
    first_sent: object
    last_sent: object


def versions_with_deliveries(lesson: Lesson) -> list[VersionRow]:
    rows = lesson.versions.select_related("edited_by").annotate(
        sent=Count("deliveries"), first=Min("deliveries__sent_at"), last=Max("deliveries__sent_at")
    )
    return [VersionRow(version, version.sent, version.first, version.last) for version in rows.order_by("-number")]
