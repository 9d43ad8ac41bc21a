from __future__ import annotations

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from course.models import Course
from subscribers.management.commands._options import instant
from subscribers.ops.journeys import PERSONAS, SLOTS, report_html, run, table_text


class Command(BaseCommand):
    help = (
        f"Run {len(PERSONAS)} named personas (a profile and scripted replies each) through a year of the course "
        "with the real tick, send and reply path, write each one's weeks to an HTML report, and exit 1 naming "
        "persona and week on a week without email, a check-in rule broken, an essential lesson late, a lesson "
        "whose targeting leaves the persona out, a stage-triggered lesson late, completion within 90 days of "
        "landing, or a lesson repeated. Nothing is kept in the database."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--course", default="clinical-to-non-clinical", metavar="SLUG", help="Course to run.")
        parser.add_argument(
            "--start",
            type=instant,
            default=None,
            metavar="WHEN",
            help="When the personas enrol (ISO; UTC unless an offset is given; default now).",
        )
        parser.add_argument("--out", type=Path, default=Path("journeys-report.html"), help="The HTML report.")
        parser.add_argument("--show", action="append", default=[], metavar="PERSONA",
                            help="Also print this persona's weeks (repeatable; 'all' for every one).")  # fmt: skip

    def handle(self, *args, course: str, start, out: Path, show: list[str], **options):
        found = Course.objects.filter(slug=course).first()
        if found is None:
            raise CommandError(f"no course {course!r}: run import_lessons first")
        start = (start or timezone.now()).replace(second=0, microsecond=0)
        with tqdm(total=SLOTS, unit="week", desc="journeys", file=sys.stderr, disable=None) as bar:
            journeys = run(found, start, progress=lambda _slot: bar.update(1))
        out.write_text(report_html(journeys, found, start), encoding="utf-8")
        failed = [journey for journey in journeys if journey.problems]
        for journey in journeys:
            if journey.persona.name in show or "all" in show:
                self.stdout.write(table_text(journey))
            mark = "ok  " if not journey.problems else "FAIL"
            self.stdout.write(f"{mark} {journey.persona.name}: {journey.persona.story} ({len(journey.weeks)} weeks)")
            for problem in journey.problems:
                self.stdout.write(f"       {journey.persona.name}, {problem}")
        self.stdout.write(f"report: {out}")
        if failed:
            raise CommandError(f"{len(failed)} of {len(journeys)} personas broke a rule (see above)")
