from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from course.models import Course
from lessons.importing import export_course


class Command(BaseCommand):
    help = (
        "Write a course from the database back to lesson files: course.yaml and one markdown file "
        "per lesson (its current version) with front matter. import_lessons reads them back "
        "without loss. Existing files of the same name in OUT are overwritten."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--course", required=True, metavar="SLUG", help="The course to export.")
        parser.add_argument("out", type=Path, help="The folder to write (created if missing).")

    def handle(self, *args, course: str, out: Path, **options) -> None:
        found = Course.objects.filter(slug=course).first()
        if found is None:
            raise CommandError(f"no course {course!r}")
        if out.exists() and not out.is_dir():
            raise CommandError(f"{out} is not a folder")
        written = export_course(found, out)
        self.stdout.write(f"wrote course.yaml and {written} lessons to {out}")
