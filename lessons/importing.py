"""Lesson files → the database. A course folder holds `course.yaml` and one markdown file
per lesson with front matter (slug, subject, kind, stage, destinations, month, order).

Import is one transaction: a bad file imports nothing and the error names the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

import frontmatter
import yaml
from django.db import transaction
from django.db.models import Max

from course.models import Course
from course.vocabulary import ANY, Destination, Kind, Stage
from lessons.models import Lesson, LessonVersion
from lessons.rendering import unknown_placeholders

COURSE_FILE = "course.yaml"
LESSON_FIELDS = ("slug", "subject", "kind", "stage", "destinations", "month", "order")


class LessonFileError(Exception):
    """A lesson or course file that cannot be imported; str() names the file and the reason."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


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


@dataclass
class CourseFile:
    path: Path
    slug: str
    title: str
    tagline: str
    price: Decimal
    currency: str
    length_months: int
    cadence_days: int
    checkin_interval_weeks: int
    checkin_months: list[int]
    lessons: list[LessonFile] = field(default_factory=list)


@dataclass
class ImportReport:
    course: Course
    created: int = 0
    new_versions: int = 0
    unchanged: int = 0


def course_folders(path: Path) -> list[Path]:
    """`path` itself when it is a course folder, else every course folder directly inside it."""
    if (path / COURSE_FILE).is_file():
        return [path]
    folders = sorted(p for p in path.iterdir() if (p / COURSE_FILE).is_file()) if path.is_dir() else []
    if not folders:
        raise LessonFileError(path, f"no {COURSE_FILE} here or in any folder directly inside")
    return folders


def read_course_folder(folder: Path) -> CourseFile:
    course_path = folder / COURSE_FILE
    try:
        data = yaml.safe_load(course_path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise LessonFileError(course_path, f"cannot read course file: {exc}") from exc
    if not isinstance(data, dict):
        raise LessonFileError(course_path, "course file must be a mapping of settings")
    try:
        course = CourseFile(
            path=course_path,
            slug=str(data["slug"]),
            title=str(data["title"]),
            tagline=str(data.get("tagline", "")),
            price=Decimal(str(data.get("price", "79.00"))),
            currency=str(data.get("currency", "usd")).lower(),
            length_months=int(data.get("length_months", 12)),
            cadence_days={"weekly": 7}.get(str(data.get("cadence", "weekly")), 0),
            checkin_interval_weeks=int(data.get("checkin_interval_weeks", 4)),
            checkin_months=[int(m) for m in data.get("checkin_months", [])],
        )
    except KeyError as exc:
        raise LessonFileError(course_path, f"missing {exc.args[0]!r}") from exc
    except (ValueError, TypeError, InvalidOperation) as exc:
        raise LessonFileError(course_path, f"bad value: {exc}") from exc
    if not course.cadence_days:
        raise LessonFileError(course_path, "cadence must be 'weekly'")
    files = sorted(folder.glob("*.md"))
    course.lessons = [read_lesson_file(path) for path in files]
    seen: dict[str, Path] = {}
    for lesson in course.lessons:
        if lesson.slug in seen:
            raise LessonFileError(lesson.path, f"duplicate slug {lesson.slug!r} (also in {seen[lesson.slug].name})")
        seen[lesson.slug] = lesson.path
    return course


def read_lesson_file(path: Path) -> LessonFile:
    try:
        post = frontmatter.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise LessonFileError(path, f"cannot read front matter: {exc}") from exc
    meta = post.metadata
    missing = [name for name in LESSON_FIELDS if name not in meta]
    if missing:
        raise LessonFileError(path, f"front matter is missing {', '.join(missing)}")
    destinations = meta["destinations"]
    destinations = [destinations] if isinstance(destinations, str) else list(destinations or [])
    lesson = LessonFile(
        path=path,
        slug=str(meta["slug"]),
        subject=str(meta["subject"] or "").strip(),
        kind=str(meta["kind"]),
        stage=str(meta["stage"]),
        destinations=[str(d) for d in destinations],
        month=meta["month"],
        order=meta["order"],
        body=post.content,
    )
    problems = lesson_problems(lesson)
    if problems:
        raise LessonFileError(path, "; ".join(problems))
    return lesson


def lesson_problems(lesson: LessonFile) -> list[str]:
    problems = []
    if not lesson.subject:
        problems.append("subject is empty")
    if lesson.kind not in Kind.values:
        problems.append(f"unknown kind {lesson.kind!r} (one of {', '.join(Kind.values)})")
    if lesson.stage not in (*Stage.values, ANY):
        problems.append(f"unknown stage {lesson.stage!r} (one of {', '.join(Stage.values)}, any)")
    if not lesson.destinations:
        problems.append("destinations is empty (use 'any')")
    for destination in lesson.destinations:
        if destination not in (*Destination.values, ANY):
            problems.append(f"unknown destination {destination!r}")
    if not isinstance(lesson.month, int) or not 1 <= lesson.month <= 12:
        problems.append(f"month must be a whole number from 1 to 12 (got {lesson.month!r})")
    if not isinstance(lesson.order, int):
        problems.append(f"order must be a whole number (got {lesson.order!r})")
    unknown = unknown_placeholders(lesson.subject + "\n" + lesson.body)
    if unknown:
        problems.append(f"unknown placeholder {', '.join(sorted(unknown))}")
    return problems


@transaction.atomic
def import_course(course_file: CourseFile) -> ImportReport:
    """Create or update the course and its lessons. A changed subject or body becomes a new
    version; earlier versions (and the deliveries pointing at them) are kept."""
    course, _ = Course.objects.update_or_create(
        slug=course_file.slug,
        defaults={
            "title": course_file.title,
            "tagline": course_file.tagline,
            "price": course_file.price,
            "currency": course_file.currency,
            "length_months": course_file.length_months,
            "cadence_days": course_file.cadence_days,
            "checkin_interval_weeks": course_file.checkin_interval_weeks,
            "checkin_months": course_file.checkin_months,
        },
    )
    report = ImportReport(course=course)
    existing = {lesson.slug: lesson for lesson in course.lessons.select_related("current_version")}
    for item in course_file.lessons:
        lesson = existing.get(item.slug) or Lesson(course=course, slug=item.slug)
        created = lesson.pk is None
        lesson.kind, lesson.stage, lesson.destinations = item.kind, item.stage, item.destinations
        lesson.month, lesson.order = item.month, item.order
        lesson.save()
        current = lesson.current_version
        if current is not None and (current.subject, current.body) == (item.subject, item.body):
            report.unchanged += 1
            continue
        number = (lesson.versions.aggregate(last=Max("number"))["last"] or 0) + 1
        lesson.current_version = LessonVersion.objects.create(
            lesson=lesson, number=number, subject=item.subject, body=item.body
        )
        lesson.save(update_fields=["current_version", "updated_at"])
        if created:
            report.created += 1
        else:
            report.new_versions += 1
    return report


@transaction.atomic
def import_path(path: Path) -> list[ImportReport]:
    """Read every course under `path` first, then import them all in one transaction."""
    course_files = [read_course_folder(folder) for folder in course_folders(path)]
    return [import_course(course_file) for course_file in course_files]
