from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from course.models import Course
from lessons.importing import export_course


class Command(BaseCommand):
    help = (
        "Write a course from the database back to lesson files: course.yaml and one markdown file "
        "per live lesson (its current version) with front matter. A lesson unchanged since its "
        "file was imported is written byte for byte as that file; a changed one rewrites only "
        "what changed (front matter order, quoting and line endings kept), so exporting onto "
        "lessons/content changes only the files of changed lessons. --lesson writes just those "
        "lessons (e.g. an admin edit) and no course.yaml. Files of the same name in OUT are "
        "overwritten."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--course", required=True, metavar="SLUG", help="The course to export.")
        parser.add_argument(
            "--lesson", action="append", metavar="SLUG", dest="lessons", help="Only this lesson (repeatable)."
        )
        parser.add_argument("out", type=Path, help="The folder to write (created if missing).")

    def handle(self, *args, course: str, lessons: list[str] | None, out: Path, **options) -> None:
        found = Course.objects.filter(slug=course).first()
        if found is None:
            known = ", ".join(Course.objects.values_list("slug", flat=True)) or "none imported yet"
            raise CommandError(f"no course {course!r} (known: {known})")
        if out.exists() and not out.is_dir():
            raise CommandError(f"{out} is not a folder")
        if lessons:
            missing = sorted(set(lessons) - set(found.lessons.filter(slug__in=lessons).values_list("slug", flat=True)))
            if missing:
                raise CommandError(f"no lesson {', '.join(missing)} in {course}")
        written = export_course(found, out, lessons)
        if lessons:
            self.stdout.write(f"wrote {written} lesson file(s) to {out}: {', '.join(f'{s}.md' for s in lessons)}")
        else:
            self.stdout.write(f"wrote course.yaml and {written} lessons to {out}")
