"""Lesson files: a course folder holds `course.yaml` and one markdown file per lesson with
front matter. Reading collects every problem with its file and line; writing produces files
that read back to the same front matter and body."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

import frontmatter
import yaml

from course.coverage import course_map
from course.planner import LessonInfo, Lessons, Rules, sort_catalogue
from course.vocabulary import (
    ANY,
    Destination,
    Kind,
    LicensePlan,
    PayNeed,
    Profession,
    Stage,
    Vocabulary,
    parse_vocabulary,
    vocabulary_of,
)
from lessons import fileformat, pay, sections, suggest
from lessons.overlap import shared_passage_problems
from lessons.rendering import (
    BLOCKS,
    LESSON_LINK_RE,
    LINK_SAFE,
    PLACEHOLDER_RE,
    PLACEHOLDERS,
    misplaced_blocks,
    unknown_placeholders,
    unsafe_placeholders,
)
from lessons.snippets import place, read_snippets

COURSE_FILE = "course.yaml"
LESSON_FIELDS = ("slug", "subject", "kind", "stage", "destinations", "month", "order")
# Optional targeting and timing (course.planner), written back only when set.
TARGETING_FIELDS = ("professions", "license_plans", "pay_needs", "not_for")
OPTIONAL_FIELDS = (*TARGETING_FIELDS, "essential_by", "trigger_stage")
TARGETING_VALUES = {"professions": Profession.values, "license_plans": LicensePlan.values,
                    "pay_needs": PayNeed.values, "not_for": Destination.values}  # fmt: skip
COURSE_FIELDS = ("slug", "title", "tagline", "price", "currency", "length_months", "cadence",
                 "checkin_interval_weeks", "checkin_months", "stages", "destinations")  # fmt: skip
VOCABULARY_FIELDS = ("stages", "destinations")  # the course's own words (course.vocabulary), as written
SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
CADENCES = {"weekly": 7}
# Front matter lists: `any` alone and `[any]` mean the same; an absent optional field has its default.
LIST_FIELDS = ("destinations", *TARGETING_FIELDS)
FIELD_DEFAULTS = {"professions": [ANY], "license_plans": [ANY], "pay_needs": [ANY], "not_for": [],
                  "essential_by": None, "trigger_stage": ""}  # fmt: skip


@dataclass(frozen=True)
class Problem:
    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


class LessonFileError(Exception):
    """Files that cannot be imported; str() lists each problem as `file:line: message`."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(problem) for problem in problems))
        self.problems = problems


@dataclass
class LessonFile:
    path: Path
    slug: str
    subject: str
    kind: str
    stage: str
    destinations: list[str]
    month: int
    order: int
    body: str
    body_line: int = 1
    professions: list[str] = field(default_factory=lambda: [ANY])
    license_plans: list[str] = field(default_factory=lambda: [ANY])
    pay_needs: list[str] = field(default_factory=lambda: [ANY])
    not_for: list[str] = field(default_factory=list)
    essential_by: int | None = None
    trigger_stage: str = ""
    text: str = ""  # the file exactly as read (line endings kept) and the SHA-256 of its bytes
    sha256: str = ""

    def front_matter(self) -> dict:
        """Who gets it and when: the front matter without slug and subject (kept per version)."""
        return {key: value for key, value in self.metadata().items() if key not in ("slug", "subject")}

    def metadata(self) -> dict:
        destinations: str | list[str] = ANY if self.destinations == [ANY] else list(self.destinations)
        data = {"slug": self.slug, "subject": self.subject, "kind": self.kind, "stage": self.stage,
                "destinations": destinations, "month": self.month, "order": self.order}  # fmt: skip
        for name in ("professions", "license_plans", "pay_needs"):
            if getattr(self, name) != [ANY]:
                data[name] = list(getattr(self, name))
        if self.not_for:
            data["not_for"] = list(self.not_for)
        if self.essential_by is not None:
            data["essential_by"] = self.essential_by
        if self.trigger_stage:
            data["trigger_stage"] = self.trigger_stage
        return data


@dataclass
class CourseFile:
    path: Path
    slug: str = ""
    title: str = ""
    tagline: str = ""
    price: Decimal = Decimal("79.00")
    currency: str = "usd"
    length_months: int = 12
    cadence: str = "weekly"
    checkin_interval_weeks: int = 4
    checkin_months: list[int] = field(default_factory=list)
    vocabulary: dict = field(default_factory=dict)  # {"stages": [...], "destinations": [...]} as written
    text: str = ""
    lessons: list[LessonFile] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def cadence_days(self) -> int:
        return CADENCES.get(self.cadence, 7)

    def rules(self) -> Rules:
        return Rules(self.length_months, self.checkin_interval_weeks, tuple(self.checkin_months))

    def metadata(self) -> dict:
        return {"slug": self.slug, "title": self.title, "tagline": self.tagline, "price": str(self.price),
                "currency": self.currency, "length_months": self.length_months, "cadence": self.cadence,
                "checkin_interval_weeks": self.checkin_interval_weeks,
                "checkin_months": list(self.checkin_months), **self.vocabulary}  # fmt: skip

    @property
    def words(self) -> Vocabulary:
        """The course's stages and destinations (the built-in ones where it declares none)."""
        return vocabulary_of(self.vocabulary)


def course_folders(path: Path) -> list[Path]:
    """`path` itself when it is a course folder, else every course folder directly inside it."""
    if (path / COURSE_FILE).is_file():
        return [path]
    folders = sorted(p for p in path.iterdir() if (p / COURSE_FILE).is_file()) if path.is_dir() else []
    if not folders:
        raise LessonFileError([Problem(path, 0, f"no {COURSE_FILE} here or in any folder directly inside")])
    return folders


def read_course_folder(folder: Path, check_coverage: bool = False, check_overlap: bool = False) -> CourseFile:
    """Read a course folder; `problems` lists everything wrong (with `check_coverage`, also the
    weeks where a reader on some stage and destination would get no email; with `check_overlap`,
    lessons that share a passage, `lessons.overlap`)."""
    course = _read_course_file(folder / COURSE_FILE)
    for path in sorted(folder.glob("*.md")):
        lesson = _read_lesson_file(path, course.problems, course.words.destination_values)
        if lesson is not None:
            course.lessons.append(lesson)
    _check_across_lessons(course)
    if check_overlap:
        course.problems.extend(Problem(*problem) for problem in shared_passage_problems(course.lessons))
    _place_snippets(folder, course)
    _place_pay(folder, course)
    if check_coverage and not course.problems:
        course.problems.extend(coverage_problems(course))
    return course


def _read_course_file(path: Path) -> CourseFile:
    course = CourseFile(path=path)
    try:
        course.text = path.read_bytes().decode("utf-8")
        text = course.text.replace("\r\n", "\n")
        data = yaml.safe_load(text) or {}
    except (OSError, UnicodeDecodeError) as exc:
        course.problems.append(Problem(path, 0, f"cannot read: {exc}"))
        return course
    except yaml.YAMLError as exc:
        course.problems.append(Problem(path, _yaml_error_line(exc, 0), f"bad YAML: {_yaml_problem(exc)}"))
        return course
    if not isinstance(data, dict):
        course.problems.append(Problem(path, 1, "the course file must be a mapping of settings"))
        return course
    line = _key_lines(text.splitlines(), 0)
    for key in ("slug", "title"):
        if not data.get(key):
            course.problems.append(Problem(path, 1, f"missing {key}"))
    unknown = sorted(set(data) - set(COURSE_FIELDS))
    for key in unknown:
        course.problems.append(Problem(path, line.get(key, 1), suggest.unknown("setting", key, COURSE_FIELDS, False)))
    try:
        course.slug, course.title = str(data.get("slug", "")), str(data.get("title", ""))
        course.tagline = str(data.get("tagline", ""))
        course.price = Decimal(str(data.get("price", "79.00")))
        course.currency = str(data.get("currency", "usd")).lower()
        course.length_months = int(data.get("length_months", 12))
        course.cadence = str(data.get("cadence", "weekly"))
        course.checkin_interval_weeks = int(data.get("checkin_interval_weeks", 4))
        course.checkin_months = [int(month) for month in data.get("checkin_months") or []]
    except (ValueError, TypeError, InvalidOperation) as exc:
        course.problems.append(Problem(path, 1, f"bad value: {exc}"))
        return course
    if course.slug and not SLUG_RE.match(course.slug):
        course.problems.append(Problem(path, line.get("slug", 1), f"slug {course.slug!r} must be lowercase-words"))
    if course.cadence not in CADENCES:
        course.problems.append(Problem(path, line.get("cadence", 1), "cadence must be 'weekly'"))
    if not 1 <= course.length_months <= 12:
        course.problems.append(Problem(path, line.get("length_months", 1), "length_months must be 1-12"))
    if course.price <= 0 or len(course.currency) != 3:
        course.problems.append(Problem(path, line.get("price", 1), "price must be positive, currency 3 letters"))
    words = {key: data[key] for key in VOCABULARY_FIELDS if key in data}
    if words:
        _parsed, problems = parse_vocabulary(words)
        for message in problems:
            key = "stages" if message.startswith(("stage", "unknown stage")) else "destinations"
            course.problems.append(Problem(path, line.get(key, 1), message))
        course.vocabulary = words
    return course


def _read_lesson_file(path: Path, problems: list[Problem], destinations: list[str] | None = None) -> LessonFile | None:
    known = destinations if destinations is not None else list(Destination.values)
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8").replace("\r\n", "\n")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(path, 0, f"cannot read: {exc}"))
        return None
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        problems.append(Problem(path, 1, "must start with front matter between '---' lines"))
        return None
    try:
        post = frontmatter.loads(text)
    except yaml.YAMLError as exc:
        problems.append(_front_matter_yaml_problem(path, lines, exc))
        return None
    meta = post.metadata
    line = _key_lines(lines, 1)
    body_start = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), 0) + 2
    before = len(problems)
    missing = [name for name in LESSON_FIELDS if name not in meta]
    if missing:
        problems.append(Problem(path, 1, f"front matter is missing {', '.join(missing)}"))
        return None
    for key in sorted(set(meta) - set(LESSON_FIELDS) - set(OPTIONAL_FIELDS)):
        fields = (*LESSON_FIELDS, *OPTIONAL_FIELDS)
        problems.append(Problem(path, line.get(key, 1), suggest.unknown("front matter field", key, fields, False)))
    destinations = meta["destinations"]
    destinations = [destinations] if isinstance(destinations, str) else list(destinations or [])
    lesson = LessonFile(
        path=path, slug=str(meta["slug"]), subject=str(meta["subject"] or "").strip(), kind=str(meta["kind"]),
        stage=str(meta["stage"]), destinations=[str(d) for d in destinations], month=meta["month"],
        order=meta["order"], body=post.content, body_line=body_start, text=raw.decode("utf-8"),
        sha256=hashlib.sha256(raw).hexdigest(),
    )  # fmt: skip

    def report(key: str, message: str) -> None:
        problems.append(Problem(path, line.get(key, 1), message))

    for name in TARGETING_FIELDS:
        if name not in meta:
            continue
        values = meta[name]
        values = [values] if isinstance(values, str) else values
        if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
            report(name, f"{name} must be a list of values or 'any'")
            continue
        values_of = {**TARGETING_VALUES, "not_for": known}
        allowed = values_of[name] if name == "not_for" else [*values_of[name], ANY]
        for value in values:
            if value not in allowed:
                report(name, suggest.unknown(f"{name} value", value, allowed))
        setattr(lesson, name, list(values))
    if "essential_by" in meta:
        lesson.essential_by = meta["essential_by"]
        by = lesson.essential_by
        if isinstance(by, bool) or not isinstance(by, int) or not 1 <= by <= 12:
            report("essential_by", f"essential_by must be a course month from 1 to 12 (got {by!r})")
        elif isinstance(lesson.month, int) and by < lesson.month:
            report("essential_by", f"essential_by {by} is before the lesson's month {lesson.month}")
    if "trigger_stage" in meta:
        lesson.trigger_stage = str(meta["trigger_stage"])
        if lesson.trigger_stage not in Stage.values:
            report("trigger_stage", suggest.unknown("stage", lesson.trigger_stage, Stage.values))

    if not SLUG_RE.match(lesson.slug):
        report("slug", f"slug {lesson.slug!r} must be lowercase words joined by hyphens")
    elif lesson.slug != path.stem:
        report("slug", f"slug {lesson.slug!r} differs from the file name {path.name!r}")
    if not lesson.subject:
        report("subject", "subject is missing or empty")
    elif len(lesson.subject) > 200 or "\n" in lesson.subject:
        report("subject", "subject must be one line of at most 200 characters")
    if lesson.kind not in Kind.values:
        report("kind", suggest.unknown("kind", lesson.kind, Kind.values))
    if lesson.stage not in (*Stage.values, ANY):
        report("stage", suggest.unknown("stage", lesson.stage, [*Stage.values, ANY]))
    if not lesson.destinations:
        report("destinations", "destinations is empty (use 'any')")
    for destination in lesson.destinations:
        if destination not in (*known, ANY):
            report("destinations", suggest.unknown("destination", destination, [*known, ANY]))
    if isinstance(lesson.month, bool) or not isinstance(lesson.month, int) or not 1 <= lesson.month <= 12:
        report("month", f"month must be a whole number from 1 to 12 (got {lesson.month!r})")
    if isinstance(lesson.order, bool) or not isinstance(lesson.order, int):
        report("order", f"order must be a whole number (got {lesson.order!r})")
    for name in sorted(unknown_placeholders(lesson.subject)):
        report("subject", placeholder_problem(name))
    for name in sorted(set(PLACEHOLDER_RE.findall(lesson.subject)) & set(BLOCKS)):
        report("subject", f"{{{{ {name} }}}} is a block and cannot stand in a subject")
    for number, body_line in enumerate(lesson.body.splitlines()):
        for name in sorted(unknown_placeholders(body_line)):
            problems.append(Problem(path, body_start + number, placeholder_problem(name)))
        for name in sorted(misplaced_blocks(body_line)):
            problems.append(Problem(path, body_start + number, f"{{{{ {name} }}}} must stand on a line of its own"))
        for name in sorted(unsafe_placeholders(body_line)):
            message = f"placeholder {name} inside a link address: only {' and '.join(LINK_SAFE)} may stand there"
            problems.append(Problem(path, body_start + number, message))
    for number, message in sections.problems(lesson.body, known):
        problems.append(Problem(path, body_start + number, message))
    return lesson if len(problems) == before else None


def _check_across_lessons(course: CourseFile) -> None:
    slugs: dict[str, LessonFile] = {}
    for lesson in course.lessons:
        if lesson.slug in slugs:
            course.problems.append(
                Problem(lesson.path, 2, f"duplicate slug {lesson.slug!r} (also in {slugs[lesson.slug].path.name})")
            )
        slugs.setdefault(lesson.slug, lesson)
    for lesson in course.lessons:
        for number, body_line in enumerate(lesson.body.splitlines()):
            for target in LESSON_LINK_RE.findall(body_line):
                if target not in slugs:
                    message = f"link to unknown lesson {target!r}"
                    hint = suggest.did_you_mean(target, slugs)
                    course.problems.append(
                        Problem(lesson.path, lesson.body_line + number, f"{message}: {hint}" if hint else message)
                    )
        for number, message in suggest.url_problems(lesson.body):
            course.problems.append(Problem(lesson.path, lesson.body_line + number, message))
    if course.lessons and not any(lesson.kind == Kind.WELCOME for lesson in course.lessons):
        course.problems.append(Problem(course.path, 1, "the course has no welcome lesson"))
    if course.lessons and not any(lesson.kind == Kind.COMPLETION for lesson in course.lessons):
        course.problems.append(Problem(course.path, 1, "the course has no completion lesson"))


def _place_snippets(folder: Path, course: CourseFile) -> None:
    """Put each `{{> name }}` line's snippet into the lesson bodies (lessons.snippets)."""
    snippets, problems = read_snippets(folder)
    course.problems.extend(Problem(path, 1, message) for path, message in problems)
    for name, text in snippets.items():
        path = folder / "snippets" / f"{name}.md"
        for number, line in enumerate(text.splitlines(), start=1):
            for placeholder in sorted(unknown_placeholders(line)):
                course.problems.append(Problem(path, number, placeholder_problem(placeholder)))
    for lesson in course.lessons:
        lesson.body, unknown = place(lesson.body, snippets)
        course.problems.extend(Problem(lesson.path, lesson.body_line + line, message) for line, message in unknown)


def _place_pay(folder: Path, course: CourseFile) -> None:
    """Put the figures of the course's pay file into the lesson bodies, with their sources (lessons.pay)."""
    table, problems = pay.read_pay_file(folder / pay.PAY_FILE)
    course.problems.extend(Problem(folder / pay.PAY_FILE, line, message) for line, message in problems)
    for lesson in course.lessons:
        course.problems.extend(Problem(lesson.path, 2, message) for message in pay.tag_problems(lesson.subject))
        lesson.body, unknown = pay.place(lesson.body, table)
        course.problems.extend(Problem(lesson.path, lesson.body_line + line, message) for line, message in unknown)


def placeholder_problem(name: str) -> str:
    """The problem with an unknown placeholder, e.g. unknown placeholder first_nmae: did you mean first_name?"""
    hint = suggest.did_you_mean(name, PLACEHOLDERS)
    return f"unknown placeholder {name}" + (f": {hint}" if hint else "")


def catalogue_of(course: CourseFile) -> Lessons:
    return sort_catalogue(
        LessonInfo(number, lesson.slug, lesson.kind, lesson.stage, tuple(lesson.destinations), lesson.month,
                   lesson.order, tuple(lesson.professions), tuple(lesson.license_plans), tuple(lesson.pay_needs),
                   tuple(lesson.not_for), lesson.essential_by, lesson.trigger_stage)
        for number, lesson in enumerate(course.lessons, start=1)
    )  # fmt: skip


def coverage_problems(course: CourseFile) -> list[Problem]:
    gaps = course_map(course.rules(), catalogue_of(course), course.words.destination_values).gaps
    by_path: dict[tuple[str, str], list[int]] = {}
    for gap in gaps:
        by_path.setdefault((gap.stage, gap.destination), []).append(gap.week)
    return [
        Problem(course.path, 1, f"gap: a reader staying at {stage} on {destination} gets no email in "
                                f"week{'s' if len(weeks) > 1 else ''} {', '.join(map(str, weeks))}")
        for (stage, destination), weeks in sorted(by_path.items())
    ]  # fmt: skip


def same_setting(key: str, before: object, after: object) -> bool:
    """Whether two front matter (or course) values mean the same: `any` is `[any]`, "49.00" is 49.0."""
    if key in LIST_FIELDS:
        before = [before] if isinstance(before, str) else before
        after = [after] if isinstance(after, str) else after
    if key == "price":
        try:
            return Decimal(str(before)) == Decimal(str(after))
        except InvalidOperation:
            return False
    if key == "subject":
        return str(before or "").strip() == str(after or "").strip()
    return before == after


def reads_back(text: str, lesson: LessonFile) -> bool:
    """Whether the file `text` reads back to exactly `lesson` (subject, body, front matter)."""
    try:
        post = frontmatter.loads(text.replace("\r\n", "\n"))
    except yaml.YAMLError:
        return False
    meta, want = post.metadata, lesson.metadata()
    return post.content == lesson.body and all(
        same_setting(key, meta.get(key, FIELD_DEFAULTS.get(key)), want.get(key, FIELD_DEFAULTS.get(key)))
        for key in {*meta, *want}
    )


def lesson_file_text(lesson: LessonFile, original: str = "", imported: LessonFile | None = None) -> str:
    """The file for `lesson`: `original` (the file as imported, which read as `imported`) byte
    for byte while the lesson is unchanged, else `original` with only what changed rewritten;
    house style when there is no original. Comparing with `imported` rather than re-reading
    `original` keeps a file whose body placed snippets or figures when it was read."""
    if not original:
        return fileformat.lesson_text(lesson.metadata(), lesson.body)
    if imported is None:
        if reads_back(original, lesson):
            return original
        return fileformat.lesson_text(lesson.metadata(), lesson.body, original, same_setting)
    before, after = imported.metadata(), lesson.metadata()
    default = FIELD_DEFAULTS.get
    changed = {key for key in {*before, *after}
               if not same_setting(key, before.get(key, default(key)), after.get(key, default(key)))}  # fmt: skip
    if not changed and imported.body == lesson.body:
        return original
    settings = {**{key: value for key, value in before.items() if key not in changed}, **after}

    def same(key: str, _was: object, _now: object) -> bool:
        return key not in changed

    body = None if imported.body == lesson.body else lesson.body
    return fileformat.lesson_text(settings, body, original, same)


def course_file_text(course: CourseFile, original: str = "") -> str:
    """course.yaml for `course`: `original` byte for byte when it still reads back to the same
    settings, else with only the changed settings rewritten."""
    want = course.metadata()
    try:
        data = yaml.safe_load(original.replace("\r\n", "\n")) if original else None
    except yaml.YAMLError:
        data = None
    if isinstance(data, dict):
        defaults = course_defaults()
        if all(same_setting(key, data.get(key, defaults.get(key)), want.get(key, defaults.get(key)))
               for key in {*data, *want}):  # fmt: skip
            return original
        want = {key: value for key, value in want.items()
                if key in data or not same_setting(key, value, defaults.get(key))}  # fmt: skip
    return fileformat.settings_text(want, original, same_setting)


def course_defaults() -> dict:
    """What each course setting is when course.yaml leaves it out."""
    return {key: value for key, value in CourseFile(path=Path()).metadata().items() if key not in ("slug", "title")}


def write_text(path: Path, text: str) -> bool:
    """Write `text` (its line endings as they are) unless the file already holds it; True if written."""
    data = text.encode("utf-8")
    if path.is_file() and path.read_bytes() == data:
        return False
    path.write_bytes(data)
    return True


def write_lesson(folder: Path, lesson: LessonFile, original: str = "") -> Path:
    path = folder / f"{lesson.slug}.md"
    write_text(path, lesson_file_text(lesson, original))
    return path


def write_course_file(folder: Path, course: CourseFile, original: str = "") -> Path:
    path = folder / COURSE_FILE
    write_text(path, course_file_text(course, original))
    return path


def _key_lines(lines: list[str], first: int) -> dict[str, int]:
    """1-based line of each top-level key, scanning from line index `first` to the closing '---'."""
    found: dict[str, int] = {}
    for index in range(first, len(lines)):
        if first and lines[index].strip() == "---":
            break
        match = re.match(r"^([A-Za-z_][\w-]*)\s*:", lines[index])
        if match:
            found.setdefault(match[1], index + 1)
    return found


def _front_matter_yaml_problem(path: Path, lines: list[str], exc: yaml.YAMLError) -> Problem:
    """Locate a YAML error by parsing exactly the lines between the '---' markers."""
    close = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), len(lines))
    try:
        yaml.safe_load("\n".join(lines[1:close]))
    except yaml.YAMLError as exact:
        exc = exact
    return Problem(path, _yaml_error_line(exc, 1), f"bad YAML in front matter: {_yaml_problem(exc)}")


def _yaml_error_line(exc: yaml.YAMLError, offset: int) -> int:
    # The start of the construct that failed (e.g. an unclosed list), else where parsing stopped.
    mark = getattr(exc, "context_mark", None) or getattr(exc, "problem_mark", None)
    return (mark.line + 1 + offset) if mark is not None else 1


def _yaml_problem(exc: yaml.YAMLError) -> str:
    return str(getattr(exc, "problem", None) or exc).splitlines()[0]
