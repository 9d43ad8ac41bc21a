"""Sections of a lesson meant for some readers only.

An author fences the part that fits only some readers:

    ::: for profession=rn,np license_plan=keep
    Nurses who keep their license can pick up per-diem shifts…
    :::

Keys are `profession`, `license_plan`, `pay_need`, `destination` (each a comma-separated list of
that vocabulary's values) and `not_for` (destinations the section is never shown to). A section
shows when every key it names includes the reader's answer. Sections do not nest.

Which sections a reader sees is their *variant* of the version: a tuple of booleans, one per
section. Rendering is cached per (version, variant), so readers who share a variant share the
expensive render.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from course.vocabulary import Destination, LicensePlan, PayNeed, Profession

OPEN_RE = re.compile(r"^:::[ \t]*for\b[ \t]*(?P<rules>.*?)[ \t]*$")
CLOSE_RE = re.compile(r"^:::[ \t]*$")
# What each key may name; `not_for` names destinations.
KEYS: dict[str, tuple[str, ...]] = {
    "profession": tuple(Profession.values),
    "license_plan": tuple(LicensePlan.values),
    "pay_need": tuple(PayNeed.values),
    "destination": tuple(Destination.values),
    "not_for": tuple(Destination.values),
}
PROFILE_KEYS = ("profession", "license_plan", "pay_need", "destination")


@dataclass(frozen=True)
class Section:
    first_line: int  # 0-based line of the opening fence
    last_line: int  # 0-based line of the closing fence
    rules: tuple[tuple[str, tuple[str, ...]], ...]

    def shows_to(self, profile: Mapping[str, str]) -> bool:
        for key, values in self.rules:
            if key == "not_for":
                if profile.get("destination", "") in values:
                    return False
            elif profile.get(key, "") not in values:
                return False
        return True


class SectionError(ValueError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


def has_sections(body: str) -> bool:
    return ":::" in body


def _parse_rules(text: str, line: int, destinations: tuple[str, ...] | None) -> tuple[tuple[str, tuple[str, ...]], ...]:
    rules = []
    if not text:
        raise SectionError(line, "'::: for' needs at least one rule, e.g. '::: for profession=rn,np'")
    for part in text.split():
        key, sign, listed = part.partition("=")
        if not sign or not listed:
            raise SectionError(line, f"section rule {part!r} must read key=value[,value] (keys: {', '.join(KEYS)})")
        if key not in KEYS:
            raise SectionError(line, f"unknown section key {key!r} (one of {', '.join(KEYS)})")
        values = tuple(value.strip() for value in listed.split(",") if value.strip())
        known = destinations if key in ("destination", "not_for") and destinations is not None else KEYS[key]
        if key in ("destination", "not_for") and destinations is None:
            known = values  # rendering: the course's own tracks were checked on import
        for value in values:
            if value not in known:
                raise SectionError(line, f"unknown {key} {value!r} in a section (one of {', '.join(known)})")
        rules.append((key, values))
    return tuple(rules)


@lru_cache(maxsize=4096)
def parse(body: str, destinations: tuple[str, ...] | None = None) -> tuple[Section, ...]:
    """The body's sections, in order; SectionError names the first problem and its line.
    `destinations`: the course's tracks to check `destination` and `not_for` against (validation);
    None when rendering a version already checked."""
    if not has_sections(body):
        return ()
    sections: list[Section] = []
    opened: tuple[int, tuple] | None = None
    for number, line in enumerate(body.splitlines()):
        if match := OPEN_RE.match(line):
            if opened is not None:
                raise SectionError(number, "a '::: for' section cannot start inside another (close it with ':::')")
            opened = (number, _parse_rules(match["rules"], number, destinations))
        elif CLOSE_RE.match(line):
            if opened is None:
                raise SectionError(number, "':::' closes no section")
            sections.append(Section(opened[0], number, opened[1]))
            opened = None
        elif line.startswith(":::"):
            raise SectionError(number, f"unknown fence {line.strip()!r} (sections open with '::: for key=value')")
    if opened is not None:
        raise SectionError(opened[0], "'::: for' section is never closed (end it with a line ':::')")
    return tuple(sections)


def problems(body: str, destinations: tuple[str, ...] | list[str] | None = None) -> list[tuple[int, str]]:
    """(0-based line, message) for the body's section fences, the tracks checked against the
    course's `destinations` (the clinical course's by default); empty when they are sound."""
    try:
        parse(body, tuple(destinations) if destinations is not None else KEYS["destination"])
    except SectionError as error:
        return [(error.line, str(error))]
    return []


def variant_for(body: str, profile: Mapping[str, str]) -> tuple[bool, ...]:
    """Which of the body's sections this reader sees (empty for a body without sections)."""
    if not has_sections(body):
        return ()
    try:
        return tuple(section.shows_to(profile) for section in parse(body))
    except SectionError:
        return ()


def apply(body: str, variant: tuple[bool, ...]) -> str:
    """The body with the fences removed and the sections the variant hides left out."""
    if not has_sections(body):
        return body
    try:
        sections = parse(body)
    except SectionError:
        return body  # validation refuses such a body; an old version renders as written
    lines = body.splitlines(keepends=True)
    dropped: set[int] = set()
    for section, shown in zip(sections, variant + (False,) * (len(sections) - len(variant)), strict=True):
        dropped.update((section.first_line, section.last_line))
        if not shown:
            dropped.update(range(section.first_line, section.last_line + 1))
    return "".join(line for number, line in enumerate(lines) if number not in dropped)
