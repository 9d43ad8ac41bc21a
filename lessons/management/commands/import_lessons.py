from __future__ import annotations

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from lessons.files import LessonFileError
from lessons.importing import import_path, lesson_file_count


class Command(BaseCommand):
    help = (
        "Import lesson files into the database. PATH is a course folder (holding course.yaml and "
        "one markdown file per lesson) or a folder of course folders, e.g. lessons/content. "
        "All or nothing: if any file has a problem nothing is imported and each problem is listed "
        "as file:line: message. Only files changed since the last import are taken: a changed "
        "lesson becomes a new version (earlier versions are kept), a new file a new lesson, a "
        "removed file retires its lesson (no longer planned, history kept). A lesson edited in "
        "the admin after its file's last import is refused (named, with what to do) unless "
        "--force. Each lesson touched is named; --dry-run shows the same and writes nothing."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", type=Path, help="A course folder, or a folder of course folders.")
        parser.add_argument("--dry-run", action="store_true", help="Show what would change; write nothing.")
        parser.add_argument(
            "--force", action="store_true", help="Replace admin edits newer than the files (kept in the history)."
        )

    def handle(self, *args, path: Path, dry_run: bool, force: bool, **options) -> None:
        if not path.exists():
            raise CommandError(f"{path}: no such file or folder")
        try:
            total = 2 * lesson_file_count(path)  # each file is read, then imported
            # A bar on a terminal only (disable=None), so logs and pipes get the report alone.
            with tqdm(total=total, unit="file", desc="importing", file=sys.stderr, disable=None, leave=False) as bar:
                reports = import_path(path, force=force, dry_run=dry_run, progress=bar.update)
        except LessonFileError as exc:
            for problem in exc.problems:
                self.stderr.write(str(problem))
            raise CommandError(f"nothing imported: {len(exc.problems)} problem(s) in the lesson files") from exc
        if dry_run:
            self.stdout.write("Dry run: what an import would do; nothing was written.")
        for report in reports:
            for line in report.lines():
                self.stdout.write(line)
        refused = [change for report in reports for change in report.refused]
        if refused:
            self.stderr.write(
                f"{len(refused)} lesson(s) refused to keep admin edits: "
                f"{', '.join(change.slug for change in refused)} (see above; --force replaces them)"
            )
