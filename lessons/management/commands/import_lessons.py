from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from lessons.importing import LessonFileError, import_path


class Command(BaseCommand):
    help = (
        "Import lesson files into the database. PATH is a course folder (holding course.yaml and "
        "one markdown file per lesson) or a folder of course folders, e.g. lessons/content. "
        "All or nothing: a bad file imports nothing and is named in the error. A changed subject "
        "or body becomes a new lesson version; earlier versions are kept."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", type=Path, help="A course folder, or a folder of course folders.")

    def handle(self, *args, path: Path, **options) -> None:
        if not path.exists():
            raise CommandError(f"{path}: no such file or folder")
        try:
            reports = import_path(path)
        except LessonFileError as exc:
            raise CommandError(f"nothing imported: {exc}") from exc
        for report in reports:
            self.stdout.write(
                f"{report.course.slug}: {report.created} new lessons, {report.new_versions} new versions, "
                f"{report.unchanged} unchanged"
            )
