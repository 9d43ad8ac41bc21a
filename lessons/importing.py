"""Lesson files ⇄ the database. Import is one transaction: any problem in any file imports
nothing, and the error lists each problem as `file:line: message`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.db import transaction
from django.db.models import Max

from course.models import Course
from course.vocabulary import ANY
from lessons.files import (
    CourseFile,
    LessonFile,
    LessonFileError,
    course_folders,
    read_course_folder,
    write_course_file,
    write_lesson,
)
from lessons.models import Lesson, LessonVersion

__all__ = ["ImportReport", "LessonFileError", "export_course", "import_course", "import_path"]


@dataclass
class ImportReport:
    course: Course
    created: int = 0
    new_versions: int = 0
    unchanged: int = 0


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
        lesson.professions, lesson.license_plans, lesson.pay_needs = (
            item.professions,
            item.license_plans,
            item.pay_needs,
        )
        lesson.not_for, lesson.essential_by, lesson.trigger_stage = item.not_for, item.essential_by, item.trigger_stage
        lesson.save()
        current = lesson.current_version
        if current is not None and (current.subject, current.body) == (item.subject, item.body):
            report.unchanged += 1
            continue
        add_version(lesson, item.subject, item.body)
        if created:
            report.created += 1
        else:
            report.new_versions += 1
    return report


def add_version(lesson: Lesson, subject: str, body: str) -> LessonVersion:
    """Make a new current version of `lesson`; earlier versions stay as they were."""
    number = (lesson.versions.aggregate(last=Max("number"))["last"] or 0) + 1
    version = LessonVersion.objects.create(lesson=lesson, number=number, subject=subject, body=body)
    lesson.current_version = version
    lesson.save(update_fields=["current_version", "updated_at"])
    return version


@transaction.atomic
def import_path(path: Path) -> list[ImportReport]:
    """Read every course under `path` first, then import them all in one transaction."""
    course_files = [read_course_folder(folder) for folder in course_folders(path)]
    problems = [problem for course_file in course_files for problem in course_file.problems]
    if problems:
        raise LessonFileError(problems)
    return [import_course(course_file) for course_file in course_files]


def export_course(course: Course, folder: Path) -> int:
    """Write the course file and every lesson's current version into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    write_course_file(
        folder,
        CourseFile(
            path=folder, slug=course.slug, title=course.title, tagline=course.tagline, price=course.price,
            currency=course.currency, length_months=course.length_months,
            cadence={7: "weekly"}.get(course.cadence_days, "weekly"),
            checkin_interval_weeks=course.checkin_interval_weeks, checkin_months=list(course.checkin_months),
        ),
    )  # fmt: skip
    written = 0
    for lesson in course.lessons.select_related("current_version").exclude(current_version=None):
        version = lesson.current_version
        write_lesson(
            folder,
            LessonFile(
                path=folder, slug=lesson.slug, subject=version.subject, kind=lesson.kind, stage=lesson.stage,
                destinations=list(lesson.destinations) or [ANY], month=lesson.month, order=lesson.order,
                body=version.body, professions=list(lesson.professions), license_plans=list(lesson.license_plans),
                pay_needs=list(lesson.pay_needs), not_for=list(lesson.not_for), essential_by=lesson.essential_by,
                trigger_stage=lesson.trigger_stage,
            ),
        )  # fmt: skip
        written += 1
    return written
