from __future__ import annotations

import sys
import time

from django.core.management.base import BaseCommand
from tqdm import tqdm

from subscribers.ops import rollup


class Command(BaseCommand):
    help = (
        "Recompute the dashboard's daily rollup (emails, replies and readers by day) from the deliveries, "
        "replies and readers themselves, four weeks at a time with a progress bar. Safe while the product runs: "
        "each step holds the rollup's triggers back while it runs, so nothing is lost or counted "
        "twice. Migrating runs it once; run it after restoring the rollup tables from an older backup, or "
        "to be sure."
    )

    def handle(self, *args, **options) -> None:
        started = time.perf_counter()
        with tqdm(unit="step", desc="rebuilding", file=sys.stderr, disable=None) as bar:

            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            rows = rollup.rebuild(progress=progress)
        steps = bar.total or 0
        counts = ", ".join(f"{name} {count:,}" for name, count in rows.items())
        self.stdout.write(f"rebuilt in {steps} steps, {time.perf_counter() - started:.1f} s: {counts} rows")
