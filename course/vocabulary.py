"""The words of the product (DESIGN.md): stages, destinations, the reader profile and lesson kinds,
and each course's own vocabulary of stages and destinations (course.yaml)."""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from django.db import models

ANY = "any"


class Stage(models.TextChoices):
    """Where the reader says they are, in order; readers reply with the number."""

    DECIDING = "deciding", "Deciding"
    CONVERSATIONS = "conversations", "Conversations"
    SEARCHING = "searching", "Searching"
    INTERVIEWING = "interviewing", "Interviewing"
    LANDED = "landed", "Landed"

    @property
    def number(self) -> int:
        return list(Stage).index(self) + 1

    @classmethod
    def from_number(cls, number: int) -> Stage:
        return list(cls)[number - 1]


class Destination(models.TextChoices):
    """The track the reader chose."""

    UNDECIDED = "undecided", "Undecided"
    HEALTH_TECH_PRODUCT = "health-tech-product", "Health tech product"
    MEDICAL_AFFAIRS = "medical-affairs", "Medical affairs"
    PAYER = "payer", "Payer"
    CONSULTING = "consulting", "Consulting"
    CLINICAL_INFORMATICS = "clinical-informatics", "Clinical informatics"
    REGULATORY_AFFAIRS = "regulatory-affairs", "Regulatory affairs"
    CLINICAL_LEADERSHIP = "clinical-leadership", "Clinical leadership"
    CHANGE_SETTING = "change-setting", "Change setting (stay in direct care)"


class Profession(models.TextChoices):
    """The reader's licensed profession (intake)."""

    PHYSICIAN = "physician", "Physician"
    NP = "np", "Nurse practitioner"
    PA = "pa", "Physician assistant"
    RN = "rn", "Registered nurse"
    PHARMACIST = "pharmacist", "Pharmacist"
    OTHER = "other", "Other licensed clinician"


class LicensePlan(models.TextChoices):
    """What the reader means to do with their clinical license after the move (intake question 3)."""

    KEEP = "keep", "Keep it active"
    LET_GO = "let-go", "Let it lapse"
    UNSURE = "unsure", "Not decided"


class PayNeed(models.TextChoices):
    """What the reader's household needs them to earn (intake question 4)."""

    MATCH = "match", "We need my current pay, or close to it"
    MODEST_DROP = "modest-drop", "We can absorb a modest drop for a while"
    FLEXIBLE = "flexible", "Pay is not the deciding factor"
    UNSURE = "unsure", "I haven't worked out the number yet"


class Kind(models.TextChoices):
    WELCOME = "welcome", "Welcome"
    LESSON = "lesson", "Lesson"
    CHECKIN = "checkin", "Check-in"
    MILESTONE = "milestone", "Milestone"
    COMPLETION = "completion", "Completion"


# --- A course's own vocabulary ---------------------------------------------------------------
# course.yaml may declare the course's stages (number, slug, label, meaning, reply words) and
# destinations (slug, label, description, reply words). The five stage slugs are the planner's
# (its calendar and triggers are written for them); each course words them its own way. The
# destinations are the course's own. A course that declares none uses the built-in vocabulary:
# the one the shipped clinical course declares, read from its course.yaml.

ENGINE_STAGES = tuple(stage.value for stage in Stage)
REQUIRED_DESTINATIONS = (Destination.UNDECIDED.value,)
BUILTIN_VOCABULARY_FILE = (
    Path(__file__).resolve().parent.parent / "lessons/content/clinical-to-non-clinical/course.yaml"
)


@dataclass(frozen=True)
class StageWords:
    number: int
    slug: str
    label: str
    meaning: str = ""
    words: tuple[str, ...] = ()


@dataclass(frozen=True)
class DestinationWords:
    slug: str
    label: str
    description: str = ""
    words: tuple[str, ...] = ()  # phrases a reply may use, any case
    patterns: tuple[str, ...] = ()  # regular expressions over the lowercased reply
    acronyms: tuple[str, ...] = ()  # matched as written ("UM", "FDA")


@dataclass(frozen=True)
class Vocabulary:
    stages: tuple[StageWords, ...]
    destinations: tuple[DestinationWords, ...]

    @property
    def stage_values(self) -> list[str]:
        return [stage.slug for stage in self.stages]

    @property
    def destination_values(self) -> list[str]:
        return [destination.slug for destination in self.destinations]

    def stage(self, slug: str) -> StageWords:
        found = next((stage for stage in self.stages if stage.slug == slug), None)
        return found or StageWords(0, slug, slug.replace("-", " ").capitalize())

    def destination(self, slug: str) -> DestinationWords:
        found = next((item for item in self.destinations if item.slug == slug), None)
        return found or DestinationWords(slug, slug.replace("-", " ").capitalize())

    def stage_label(self, slug: str) -> str:
        return self.stage(slug).label

    def destination_label(self, slug: str) -> str:
        return self.destination(slug).label

    def stage_choices(self, numbered: bool = False) -> list[tuple[str, str]]:
        return [(s.slug, f"{s.number}. {s.label}" if numbered else s.label) for s in self.stages]

    def destination_choices(self) -> list[tuple[str, str]]:
        return [(d.slug, d.label) for d in self.destinations]

    def has_destination(self, slug: str) -> bool:
        return any(item.slug == slug for item in self.destinations)


def _strings(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(str(item) for item in value or ())


def parse_vocabulary(data: dict, base: Vocabulary | None = None) -> tuple[Vocabulary | None, list[str]]:
    """The vocabulary of `{"stages": [...], "destinations": [...]}` as written in course.yaml,
    and the problems with it (each naming the entry). Either list may be left out: `base`'s
    (by default the built-in vocabulary's) is used."""
    problems: list[str] = []
    base = base or builtin_vocabulary()
    stages, destinations = base.stages, base.destinations
    if "stages" in data:
        raw = data["stages"]
        if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
            problems.append("stages must be a list of entries with number, slug, label and meaning")
            raw = []
        found = []
        for index, item in enumerate(raw, start=1):
            slug = str(item.get("slug", ""))
            where = f"stage {index} ({slug or 'no slug'})"
            unknown = sorted(set(item) - {"number", "slug", "label", "meaning", "words"})
            if unknown:
                problems.append(f"{where}: unknown field {', '.join(map(repr, unknown))} "
                                f"(fields: number, slug, label, meaning, words)")  # fmt: skip
            if not item.get("label"):
                problems.append(f"{where}: missing label")
            if item.get("number") != index:
                problems.append(f"{where}: number must be {index} (stages are numbered in order from 1)")
            found.append(StageWords(index, slug, str(item.get("label") or slug), str(item.get("meaning") or ""),
                                    _strings(item.get("words"))))  # fmt: skip
        if [stage.slug for stage in found] != list(ENGINE_STAGES):
            for stage in found:
                if stage.slug not in ENGINE_STAGES:
                    close = difflib.get_close_matches(stage.slug, ENGINE_STAGES, n=1)
                    problems.append(f"unknown stage {stage.slug!r}" + (f": did you mean {close[0]}?" if close else ""))
            problems.append(f"stages must be the planner's five, in order: {', '.join(ENGINE_STAGES)} "
                            f"(label and meaning are the course's own)")  # fmt: skip
        stages = tuple(found)
    if "destinations" in data:
        raw = data["destinations"]
        if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
            problems.append("destinations must be a list of entries with slug, label and description")
            raw = []
        found, seen_words = [], {}
        for index, item in enumerate(raw, start=1):
            slug = str(item.get("slug", ""))
            where = f"destination {index} ({slug or 'no slug'})"
            unknown = sorted(set(item) - {"slug", "label", "description", "words", "patterns", "acronyms"})
            if unknown:
                problems.append(f"{where}: unknown field {', '.join(map(repr, unknown))} "
                                f"(fields: slug, label, description, words, patterns, acronyms)")  # fmt: skip
            if not re.match(r"^[a-z0-9]+(?:-[a-z0-9]+)*$", slug) or slug == ANY:
                problems.append(f"{where}: slug must be lowercase words joined by hyphens (not 'any')")
            if any(other.slug == slug for other in found):
                problems.append(f"{where}: slug {slug!r} is declared twice")
            if not item.get("label"):
                problems.append(f"{where}: missing label")
            entry = DestinationWords(slug, str(item.get("label") or slug), str(item.get("description") or ""),
                                     _strings(item.get("words")), _strings(item.get("patterns")),
                                     _strings(item.get("acronyms")))  # fmt: skip
            for pattern in (*entry.patterns, *entry.acronyms):
                try:
                    re.compile(pattern)
                except re.error as exc:
                    problems.append(f"{where}: pattern {pattern!r} is not a valid regular expression ({exc})")
            for word in entry.words:
                key = word.strip().lower()
                if not key:
                    problems.append(f"{where}: an empty reply word")
                elif key in seen_words and seen_words[key] != slug:
                    problems.append(f"{where}: reply word {word!r} also names {seen_words[key]}")
                seen_words.setdefault(key, slug)
            found.append(entry)
        for slug in REQUIRED_DESTINATIONS:
            if not any(item.slug == slug for item in found):
                problems.append(f"destinations must include {slug!r} (where a reader starts who has not chosen)")
        destinations = tuple(found)
    return (None if problems else Vocabulary(stages, destinations)), problems


def default_vocabulary() -> Vocabulary:
    """The words of the enums above, with no reply words: what a course has when even the
    built-in file is missing."""
    return Vocabulary(
        tuple(StageWords(stage.number, stage.value, stage.label) for stage in Stage),
        tuple(DestinationWords(item.value, item.label) for item in Destination),
    )


_BUILTIN: list[Vocabulary] = []


def builtin_vocabulary() -> Vocabulary:
    """The vocabulary the shipped clinical course declares (read once), else the enums'."""
    if not _BUILTIN:
        try:
            data = yaml.safe_load(BUILTIN_VOCABULARY_FILE.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            data = {}
        wanted = {key: data[key] for key in ("stages", "destinations") if key in data}
        parsed, _problems = parse_vocabulary(wanted, default_vocabulary()) if wanted else (None, [])
        _BUILTIN.append(parsed or default_vocabulary())
    return _BUILTIN[0]


_BY_DATA: dict[str, Vocabulary] = {}


def vocabulary_of(data: dict | None) -> Vocabulary:
    """The vocabulary stored for a course (Course.vocabulary), cached by its content."""
    if not data:
        return builtin_vocabulary()
    key = json.dumps(data, sort_keys=True)
    if key not in _BY_DATA:
        parsed, _problems = parse_vocabulary(data)
        _BY_DATA[key] = parsed or builtin_vocabulary()
    return _BY_DATA[key]
