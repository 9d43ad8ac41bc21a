"""`make drills`: run every drill, one after another, and print one summary table.

Each drill is its own process (its own services, cleaned up when it ends); its output goes to
a log whose last lines are shown when it fails. Exit status 1 when any drill falls short.

    .venv/bin/python drills/run_all.py [name ...]
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from drills import harness

DRILLS = {
    "hostile-inputs": "hostile_inputs.py",
    "webhook-storms": "webhook_storms.py",
    "load": "load.py",
    "worker-killed": "worker_killed.py",
    "redis-outage": "redis_outage.py",
    "postgres-restart": "postgres_restart.py",
    "beat-stopped": "beat_stopped.py",
}
TIMEOUT_SECONDS = 240


def main(names: list[str]) -> int:
    unknown = [name for name in names if name not in DRILLS]
    if unknown:
        print(f"unknown drill(s): {', '.join(unknown)} (one of {', '.join(DRILLS)})")
        return 2
    results = Path(tempfile.mkdtemp(prefix="drill-results-"))
    rows = []
    started = time.monotonic()
    for name in names or list(DRILLS):
        log = results / f"{name}.log"
        harness.log(f"drill {name} ...")
        began = time.monotonic()
        with log.open("wb") as out:
            script = str(Path(__file__).parent / DRILLS[name])
            env = {**os.environ, "DRILL_RESULTS": str(results)}
            drill = subprocess.Popen([sys.executable, script], stdout=out, stderr=subprocess.STDOUT, env=env)
            try:
                code = drill.wait(TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:  # SIGTERM first: the drill stops what it started
                drill.terminate()
                try:
                    code = drill.wait(30)
                except subprocess.TimeoutExpired:
                    drill.kill()
                    code = drill.wait()
        saved = results / f"{name}.json"
        row = harness.Row(**json.loads(saved.read_text())) if saved.exists() else harness.Row(drill=name)
        if not saved.exists():
            row.seconds = time.monotonic() - began
            row.notes.append(f"no result (exit {code})")
        rows.append(row)
        harness.log(f"drill {name}: {'PASS' if row.passed and code == 0 else 'FAIL'} in {row.seconds:.0f}s")
        if not (row.passed and code == 0):
            print("".join(log.read_text(errors="replace").splitlines(keepends=True)[-40:]))
    print()
    print(harness.table(rows))
    for row in rows:
        for note in row.notes:
            print(f"  {row.drill}: {note}")
    total_lost = sum(row.lost or 0 for row in rows)
    total_500 = sum(row.errors_500 or 0 for row in rows)
    print(f"\n{sum(r.passed for r in rows)}/{len(rows)} drills passed; lost {total_lost}; 500s {total_500}; "
          f"{time.monotonic() - started:.0f}s")  # fmt: skip
    if not os.environ.get("DRILL_KEEP_LOGS"):
        shutil.rmtree(results, ignore_errors=True)
    return 0 if all(row.passed for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
