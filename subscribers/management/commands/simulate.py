from __future__ import annotations

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from course.models import Course
from subscribers.management.commands._options import instant
from subscribers.ops.simulation import report_html, simulate


class Command(BaseCommand):
    help = (
        "Simulate a cohort of readers through the real tick, planner and send path on the configured "
        "database, jumping the clock from one due time to the next: enrolments over four weeks, replies "
        "to check-ins that move readers on, track switches, pauses, stops and lessons published "
        "mid-course. Writes a self-contained HTML report with charts and the invariants checked (no "
        "repeated lesson, at most one email per weekly slot, nothing to paused or stopped readers) and "
        "exits 1 if any fails. Nothing is kept in the database unless --keep."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--readers", type=int, default=200, help="How many readers (default 200).")
        parser.add_argument("--months", type=int, default=12, help="How many months of clock time (default 12).")
        parser.add_argument("--seed", type=int, default=1, help="Random seed: the same seed and start, the same run.")
        parser.add_argument(
            "--start", type=instant, default=None, metavar="WHEN",
            help="When the simulated clock starts, e.g. 2026-01-05T09:00Z (UTC unless an offset is given; "
            "default: this hour). Pass one to reproduce a report.",
        )  # fmt: skip
        parser.add_argument("--course", default="clinical-to-non-clinical", metavar="SLUG", help="Course to run.")
        parser.add_argument("--out", type=Path, default=Path("simulation-report.html"), help="The HTML report.")
        parser.add_argument("--keep", action="store_true", help="Keep the simulated readers in the database.")

    def handle(self, *args, readers: int, months: int, seed: int, start, course: str, out: Path, keep: bool, **options):
        if not 1 <= readers <= 100_000 or not 1 <= months <= 24:
            raise CommandError("--readers must be 1-100000 and --months 1-24")
        found = Course.objects.filter(slug=course).first()
        if found is None:
            raise CommandError(f"no course {course!r}: run import_lessons first")
        with tqdm(total=100, unit="%", desc="simulating", file=sys.stderr, disable=None) as bar:
            result = simulate(found, readers, months, seed, start=start, keep=keep, progress=bar.update)
        out.write_text(report_html(result), encoding="utf-8")
        self.stdout.write(f"{len(result.sent):,} emails to {readers:,} readers over {months} months; report: {out}")
        for name, found_violations in result.violations.items():
            self.stdout.write(f"  {'ok  ' if not found_violations else 'FAIL'} {name}"
                              + (f" ({len(found_violations)})" if found_violations else ""))  # fmt: skip
        if not result.ok:
            raise CommandError("an invariant failed (see the report)")
