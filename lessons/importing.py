"""Lesson files ⇄ the database. Import is one transaction: any problem in any file imports
nothing, and the error lists each problem as `file:line: message`.

Files and the admin are one source: each version records where it came from (a file and its
hash, or an admin user). Import changes a lesson only when its file changed since the last
import, never replaces an admin edit newer than that without `force`, retires a lesson whose
file was removed (it is no longer planned; its history stays), and reports each lesson it adds,
changes, retires, restores, keeps or refuses. `dry_run` reports the same and writes nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction
from django.db.models import Count, Max
from django.utils import timezone

from course.models import Course
from course.vocabulary import ANY
from lessons.files import (
    CourseFile,
    LessonFile,
    LessonFileError,
    course_file_text,
    course_folders,
    lesson_file_text,
    read_course_folder,
    same_setting,
    write_text,
)
from lessons.models import Lesson, LessonVersion, Source

__all__ = [
    "Change",
    "ImportReport",
    "LessonFileError",
    "export_course",
    "import_course",
    "import_path",
    "lesson_as_file",
    "lesson_file_of",
]

COURSE_SETTINGS = ("title", "tagline", "price", "currency", "length_months", "cadence_days",
                   "checkin_interval_weeks", "checkin_months", "vocabulary")  # fmt: skip
# Other files of a course folder that lessons are read with (snippets, figures): kept so export
# writes the whole folder back.
SUPPORT_SUFFIXES = (".md", ".yaml", ".yml", ".txt", ".csv")
SUPPORT_MAX_BYTES = 1_000_000
# What each action means, for the report, in the order it lists them.
ACTIONS = ("refused", "retired", "changed", "added", "restored", "kept")


@dataclass(frozen=True)
class Change:
    action: str  # one of ACTIONS
    slug: str
    detail: str = ""

    def __str__(self) -> str:
        return f"  {self.action:<9} {self.slug}" + (f": {self.detail}" if self.detail else "")


@dataclass
class ImportReport:
    course: Course
    changes: list[Change] = field(default_factory=list)
    unchanged: int = 0
    course_changes: list[str] = field(default_factory=list)
    course_created: bool = False

    def count(self, action: str) -> int:
        return sum(1 for change in self.changes if change.action == action)

    @property
    def created(self) -> int:
        return self.count("added")

    @property
    def new_versions(self) -> int:
        return self.count("changed")

    @property
    def refused(self) -> list[Change]:
        return [change for change in self.changes if change.action == "refused"]

    def summary(self) -> str:
        counts = [f"{self.count(action)} {action}" for action in ACTIONS if self.count(action)]
        if not counts and not self.course_changes and not self.course_created:
            return f"{self.course.slug}: up to date ({self.unchanged} lessons unchanged)"
        head = "new course, " if self.course_created else ""
        return f"{self.course.slug}: {head}{', '.join([*counts, f'{self.unchanged} unchanged'])}"

    def lines(self) -> list[str]:
        """The summary, then one line per course setting and per lesson the import touched."""
        out = [self.summary()]
        out += [f"  course    {change}" for change in self.course_changes]
        out += [str(change) for action in ACTIONS for change in self.changes if change.action == action]
        return out


def _who(version: LessonVersion) -> str:
    by = version.edited_by.get_username() if version.edited_by else "an admin user"
    return f"v{version.number} by {by}, {timezone.localtime(version.created_at):%Y-%m-%d %H:%M}"


def admin_ahead(version: LessonVersion | None) -> bool:
    """Whether `version` may hold work that is not in the lesson's file: an admin edit, or a
    later version saved before sources were recorded."""
    if version is None:
        return False
    return version.source == Source.ADMIN or (version.source == Source.UNRECORDED and version.number > 1)


def _content(version: LessonVersion | None) -> tuple | None:
    return None if version is None else (version.subject, version.body, version.front_matter)


def _differences(version: LessonVersion | None, item: LessonFile) -> str:
    """What the file changes, e.g. "body, month 3 → 4"."""
    if version is None:
        return ""
    found = [name for name, old, new in (("subject", version.subject, item.subject), ("body", version.body, item.body))
             if old != new]  # fmt: skip
    before, after = version.front_matter, item.front_matter()
    for key in dict.fromkeys([*before, *after]):
        old, new = before.get(key), after.get(key)
        if not same_setting(key, old, new):
            simple = all(isinstance(v, (int, str)) or v is None for v in (old, new))
            found.append(f"{key} {old} → {new}" if simple else key)
    return ", ".join(found)


def _apply_file(lesson: Lesson, item: LessonFile, now) -> None:
    lesson.kind, lesson.stage, lesson.destinations = item.kind, item.stage, item.destinations
    lesson.month, lesson.order = item.month, item.order
    lesson.professions, lesson.license_plans, lesson.pay_needs = item.professions, item.license_plans, item.pay_needs
    lesson.not_for, lesson.essential_by, lesson.trigger_stage = item.not_for, item.essential_by, item.trigger_stage
    lesson.file_name, lesson.file_hash, lesson.file_text = item.path.name, item.sha256, item.text
    lesson.imported_at, lesson.retired_at = now, None
    lesson.save()


def _export_hint(course: Course, slug: str) -> str:
    return f"export_lessons --course {course.slug} --lesson {slug} writes it to its file"


def import_course(
    course_file: CourseFile, *, force: bool = False, dry_run: bool = False, progress: Callable | None = None
) -> ImportReport:
    """Create or update the course and its lessons from `course_file` (see the module docstring);
    `progress(1)` is called after each lesson."""
    with transaction.atomic():
        report = _import_course(course_file, force=force, progress=progress)
        if dry_run:
            transaction.set_rollback(True)
    return report


def _import_course(course_file: CourseFile, *, force: bool, progress: Callable | None) -> ImportReport:
    now = timezone.now()
    settings = {
        "title": course_file.title, "tagline": course_file.tagline, "price": course_file.price,
        "currency": course_file.currency, "length_months": course_file.length_months,
        "cadence_days": course_file.cadence_days, "checkin_interval_weeks": course_file.checkin_interval_weeks,
        "checkin_months": course_file.checkin_months, "vocabulary": course_file.vocabulary,
    }  # fmt: skip
    settings["support_files"] = support_files(course_file.path.parent)
    course = Course.objects.filter(slug=course_file.slug).first()
    report = ImportReport(course=course or Course(slug=course_file.slug), course_created=course is None)
    if course is None:
        course = report.course = Course.objects.create(slug=course_file.slug, file_text=course_file.text, **settings)
    else:
        old, new = course.support_files, settings.pop("support_files")
        for name in sorted({*old, *new}):
            if old.get(name) != new.get(name):
                report.course_changes.append(
                    f"{name} {'added' if name not in old else 'removed' if name not in new else 'changed'}"
                )
        course.support_files = new
        for name in COURSE_SETTINGS:
            old, new = getattr(course, name), settings[name]
            if not same_setting(name, old, new):
                simple = all(isinstance(v, (int, str)) for v in (old, new)) and len(str(old)) + len(str(new)) < 80
                report.course_changes.append(f"{name} {old} → {new}" if simple else name)
                setattr(course, name, new)
        course.file_text = course_file.text
        course.save()

    existing = {lesson.slug: lesson for lesson in course.lessons.select_related("current_version__edited_by")}
    for item in course_file.lessons:
        lesson = existing.pop(item.slug, None)
        change = _import_lesson(course, lesson, item, force=force, now=now)
        if progress:
            progress(1)
        if change is None:
            report.unchanged += 1
        else:
            report.changes.append(change)
            if change.action == "kept":
                report.unchanged += 1
    for lesson in existing.values():
        change = _retire(course, lesson, force=force, now=now)
        if change is not None:
            report.changes.append(change)
    return report


def support_files(folder: Path) -> dict[str, str]:
    """{path inside `folder`: text} of the files besides course.yaml and the lessons."""
    found = {}
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder).as_posix()
        lesson = path.parent == folder and path.suffix == ".md"
        if lesson or name == "course.yaml" or not path.is_file() or path.suffix not in SUPPORT_SUFFIXES:
            continue
        if path.stat().st_size <= SUPPORT_MAX_BYTES and not any(part.startswith(".") for part in path.parts):
            try:
                found[name] = path.read_bytes().decode("utf-8")
            except UnicodeDecodeError:
                continue
    return found


def _import_lesson(course: Course, lesson: Lesson | None, item: LessonFile, *, force: bool, now) -> Change | None:
    def take_file() -> None:
        _apply_file(lesson, item, now)
        lesson.file_version = add_version(
            lesson, item.subject, item.body, front_matter=item.front_matter(), source=Source.FILE,
            source_file=item.path.name, source_hash=item.sha256,
        )  # fmt: skip
        lesson.save(update_fields=["file_version"])

    def remember_file() -> None:  # the file holds the current version as it is
        _apply_file(lesson, item, now)
        lesson.file_version = current
        lesson.save(update_fields=["file_version"])

    if lesson is None:
        lesson = Lesson(course=course, slug=item.slug)
        take_file()
        return Change("added", item.slug, item.path.name)
    current = lesson.current_version
    same = _content(current) == (item.subject, item.body, item.front_matter())
    if lesson.retired_at is not None:
        what = "its file is back"
        if not same:
            what += f" ({_differences(current, item)})"
            take_file()
        else:
            remember_file()
        return Change("restored", item.slug, what + "; planned again")
    if same:
        if lesson.file_hash != item.sha256 or lesson.file_version_id != current.pk:
            remember_file()  # only the file's formatting changed, or it now holds the admin edit
        return None
    ahead = admin_ahead(current)
    if ahead and not force:
        if lesson.file_hash == item.sha256:
            return Change("kept", item.slug, f"admin edit {_who(current)} is newer than its unchanged file; "
                                             f"{_export_hint(course, item.slug)}")  # fmt: skip
        return Change("refused", item.slug,
                      f"its file changed, but the admin edit {_who(current)} is newer than the file's last import "
                      f"(the file differs from it in {_differences(current, item)}); --force replaces the edit (it "
                      f"stays in the history), or {_export_hint(course, item.slug)}")  # fmt: skip
    detail = _differences(current, item)
    if ahead:
        detail += f"; replaced the admin edit {_who(current)} (kept in the history)"
    take_file()
    return Change("changed", item.slug, f"{detail} (now v{lesson.current_version.number})")


def _retire(course: Course, lesson: Lesson, *, force: bool, now) -> Change | None:
    if lesson.retired_at is not None:
        return None
    current = lesson.current_version
    if not lesson.file_hash and current is not None and current.source == Source.ADMIN:
        return Change("kept", lesson.slug, f"made in the admin and has no file; {_export_hint(course, lesson.slug)}")
    if admin_ahead(current) and not force:
        return Change("refused", lesson.slug,
                      f"its file is gone but the admin edit {_who(current)} is newer than the file's last import; "
                      f"--force retires it, or {_export_hint(course, lesson.slug)}")  # fmt: skip
    lesson.retired_at = now
    lesson.save(update_fields=["retired_at", "updated_at"])
    kept = lesson.versions.aggregate(versions=Count("id", distinct=True), sent=Count("deliveries"))
    return Change("retired", lesson.slug, f"its file is gone: no longer planned; {kept['versions']} version(s) "
                                          f"and {kept['sent']} delivery(ies) kept")  # fmt: skip


def add_version(
    lesson: Lesson, subject: str, body: str, *, front_matter: dict | None = None, source: str = "",
    source_file: str = "", source_hash: str = "", edited_by=None,
) -> LessonVersion:  # fmt: skip
    """Make a new current version of `lesson`; earlier versions stay as they were."""
    if lesson.pk is None:
        lesson.save()
    number = (lesson.versions.aggregate(last=Max("number"))["last"] or 0) + 1
    version = LessonVersion.objects.create(
        lesson=lesson, number=number, subject=subject, body=body,
        front_matter=front_matter if front_matter is not None else lesson_file_of(lesson).front_matter(),
        source=source, source_file=source_file, source_hash=source_hash, edited_by=edited_by,
    )  # fmt: skip
    lesson.current_version = version
    lesson.save(update_fields=["current_version", "updated_at"])
    return version


def lesson_file_count(path: Path) -> int:
    """How many lesson files an import of `path` reads (for a progress bar)."""
    return sum(len(list(folder.glob("*.md"))) for folder in course_folders(path))


def import_path(
    path: Path, *, force: bool = False, dry_run: bool = False, progress: Callable | None = None
) -> list[ImportReport]:
    """Read every course under `path` first, then import them all in one transaction.
    `progress(n)` is called as files are read (n per course) and lessons imported (1 each)."""
    course_files = []
    for folder in course_folders(path):
        course_files.append(read_course_folder(folder))
        if progress:
            progress(len(course_files[-1].lessons))
    problems = [problem for course_file in course_files for problem in course_file.problems]
    if problems:
        raise LessonFileError(problems)
    with transaction.atomic():
        reports = [import_course(course_file, force=force, progress=progress) for course_file in course_files]
        if dry_run:
            transaction.set_rollback(True)
    return reports


def lesson_file_of(lesson: Lesson, version: LessonVersion | None = None) -> LessonFile:
    """The lesson (its `version`, by default the current one) as a lesson file."""
    version = version or lesson.current_version
    return LessonFile(
        path=Path(lesson.file_name or f"{lesson.slug}.md"), slug=lesson.slug,
        subject=version.subject if version else "", kind=lesson.kind, stage=lesson.stage,
        destinations=list(lesson.destinations) or [ANY], month=lesson.month, order=lesson.order,
        body=version.body if version else "", professions=list(lesson.professions),
        license_plans=list(lesson.license_plans), pay_needs=list(lesson.pay_needs), not_for=list(lesson.not_for),
        essential_by=lesson.essential_by, trigger_stage=lesson.trigger_stage,
    )  # fmt: skip


def lesson_as_file(lesson: Lesson) -> str:
    """The text of the lesson's file for its current version: the imported file byte for byte
    while the lesson is unchanged, otherwise that file with only what changed rewritten."""
    imported = lesson.file_version
    if imported is None or not lesson.file_text:
        return lesson_file_text(lesson_file_of(lesson), lesson.file_text)
    return lesson_file_text(lesson_file_of(lesson), lesson.file_text, version_as_file(lesson, imported))


def version_as_file(lesson: Lesson, version: LessonVersion) -> LessonFile:
    """`version` of `lesson` as a lesson file, with the front matter it had."""
    front = version.front_matter or lesson_file_of(lesson, version).front_matter()
    destinations = front.get("destinations", ANY)
    return LessonFile(
        path=Path(lesson.file_name or f"{lesson.slug}.md"), slug=lesson.slug, subject=version.subject,
        kind=front["kind"], stage=front["stage"],
        destinations=[destinations] if isinstance(destinations, str) else list(destinations),
        month=front["month"], order=front["order"], body=version.body,
        professions=list(front.get("professions", [ANY])), license_plans=list(front.get("license_plans", [ANY])),
        pay_needs=list(front.get("pay_needs", [ANY])), not_for=list(front.get("not_for", [])),
        essential_by=front.get("essential_by"), trigger_stage=front.get("trigger_stage", ""),
    )  # fmt: skip


def course_as_file(course: Course) -> str:
    course_file = CourseFile(
        path=Path(), slug=course.slug, title=course.title, tagline=course.tagline, price=course.price,
        currency=course.currency, length_months=course.length_months,
        cadence={7: "weekly"}.get(course.cadence_days, "weekly"),
        checkin_interval_weeks=course.checkin_interval_weeks, checkin_months=list(course.checkin_months),
        vocabulary=dict(course.vocabulary),
    )  # fmt: skip
    return course_file_text(course_file, course.file_text)


def export_course(course: Course, folder: Path, slugs: list[str] | None = None) -> int:
    """Write the course file and every live lesson's current version into `folder` (only the
    lessons in `slugs`, and no course file, when given). Files that already hold the same bytes
    are left alone. Returns the number of lessons exported."""
    folder.mkdir(parents=True, exist_ok=True)
    lessons = course.lessons.select_related("current_version", "file_version").exclude(current_version=None)
    if slugs is None:
        write_text(folder / "course.yaml", course_as_file(course))
        for name, text in course.support_files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            write_text(folder / name, text)
        lessons = lessons.filter(retired_at=None)
    else:
        lessons = lessons.filter(slug__in=slugs)
    written = 0
    for lesson in lessons:
        write_text(folder / f"{lesson.slug}.md", lesson_as_file(lesson))
        written += 1
    return written
