from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from lessons.files import LessonFileError, course_folders, read_course_folder


class Command(BaseCommand):
    help = (
        "Check lesson files without importing them: front matter (YAML, known kind, stage and "
        "destinations, month 1-12, subject, unique slugs), placeholders, links between lessons, snippets, "
        "no passage of 40 or more words shared by two lessons, and that a reader who stays at any stage "
        "on any destination gets an email every week of the course. Prints file:line: message for each "
        "problem and exits 1 if there is any. PATH is a course folder or a folder of course folders."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", type=Path, help="A course folder, or a folder of course folders.")

    def handle(self, *args, path: Path, **options) -> None:
        if not path.exists():
            raise CommandError(f"{path}: no such file or folder")
        try:
            folders = course_folders(path)
            courses = [read_course_folder(folder, check_coverage=True, check_overlap=True) for folder in folders]
        except LessonFileError as exc:
            raise CommandError(str(exc)) from exc
        problems = [problem for course in courses for problem in course.problems]
        for problem in problems:
            self.stdout.write(str(problem))
        for course in courses:
            self.stderr.write(f"{course.slug or course.path}: {len(course.lessons)} lessons checked")
        if problems:
            raise CommandError(f"{len(problems)} problem(s) found")
        self.stderr.write("no problems found")
