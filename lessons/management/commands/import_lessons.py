from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from lessons.files import LessonFileError
from lessons.importing import import_path


class Command(BaseCommand):
    help = (
        "Import lesson files into the database. PATH is a course folder (holding course.yaml and "
        "one markdown file per lesson) or a folder of course folders, e.g. lessons/content. "
        "All or nothing: if any file has a problem nothing is imported and each problem is listed "
        "as file:line: message. A changed subject or body becomes a new lesson version; earlier "
        "versions are kept."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", type=Path, help="A course folder, or a folder of course folders.")

    def handle(self, *args, path: Path, **options) -> None:
        if not path.exists():
            raise CommandError(f"{path}: no such file or folder")
        try:
            reports = import_path(path)
        except LessonFileError as exc:
            for problem in exc.problems:
                self.stderr.write(str(problem))
            raise CommandError(f"nothing imported: {len(exc.problems)} problem(s) in the lesson files") from exc
        for report in reports:
            self.stdout.write(
                f"{report.course.slug}: {report.created} new lessons, {report.new_versions} new versions, "
                f"{report.unchanged} unchanged"
            )
