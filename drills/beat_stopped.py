"""Drill 7, beat stopped: the scheduler dies silently (no tick means no email), for ten ticks,
while every reader's weekly slot comes; web, worker and beat are real processes on their own
Redis and a throwaway database, sending to an SMTP sink.

Expected: /readyz turns 503 within two ticks' time of the stop (its `tick` line says why), the
dashboard shows the tick and beat red, nothing is sent while beat is down, and once beat is back
every reader gets exactly one email for the missed slot, and /readyz is 200 again.

Time is compressed: a 3-second tick (DRIP_TICK_SECONDS) instead of a minute, so the ten-minute
outage of production (ten ticks) takes 30 s here.

    .venv/bin/python drills/beat_stopped.py
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from drills import harness

READERS = 200
TICK = 3.0
OUTAGE_TICKS = 10
TWO_TICKS = 2 * TICK + TICK / 4  # subscribers.ops.health.tick_limit() at this tick
POLL = 0.25


ANSWERS: Counter[int] = Counter()


def readyz(base: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"{base}/readyz", timeout=5) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
    ANSWERS[status] += 1
    return status, json.loads(body) if status in (200, 503) else {"checks": {"tick": {"ok": False, "detail": "-"}}}


def drill(stack: ExitStack, row: harness.Row) -> None:
    folder = harness.workdir(stack, "beat")
    sink = harness.SmtpSink(stack)
    redis = harness.RedisServer(stack, folder)
    env = harness.product_env(
        harness.throwaway_database(stack, "beat"), redis.url, folder, DRIP_TICK_SECONDS=str(TICK), **sink.env()
    )
    harness.setup_django(env)
    from django.contrib.auth.models import User
    from django.db import transaction
    from django.test import Client
    from django.utils import timezone

    from course.models import Course
    from subscribers.models import Delivery, Subscriber
    from subscribers.readers.enrolment import Intake, enroll
    from subscribers.sending import drip

    # Readers a week into the course: enrolled and welcomed a week ago (in this process, at that time).
    course = Course.objects.get(slug="clinical-to-non-clinical")
    week_ago = timezone.now() - timedelta(days=7)
    with transaction.atomic():
        for i in range(READERS):
            enroll(course, Intake(email=f"r{i}@drill.example", send_hour=9), actor="drill", why="drill", now=week_ago)
    welcomes = drip.tick(now=week_ago, queue=False).delivery_ids
    for start in range(0, len(welcomes), drip.SEND_CHUNK):
        drip.send_deliveries(welcomes[start : start + drip.SEND_CHUNK], now=week_ago)
    assert Delivery.objects.filter(state="sent").count() == READERS
    # Their next slot is later today, not yet: the system runs quiet until beat stops.
    Subscriber.objects.update(next_send_at=timezone.now() + timedelta(days=1))
    welcomed = sink.received

    _, base = harness.gunicorn(stack, env, folder, workers=1, threads=4)
    worker = harness.celery_worker(stack, "worker", env, folder)
    harness.wait_ready(worker)
    argv = [harness.PYTHON, "-m", "celery", "-A", "config", "beat", "--loglevel=INFO"]
    beat = harness.spawn(stack, "beat", argv, env, folder)
    harness.wait_for(lambda: readyz(base)[0] == 200, what="/readyz to be 200 with beat running", seconds=40)
    harness.log("web, worker and beat running; /readyz 200")

    beat.kill()
    stopped = time.monotonic()
    Subscriber.objects.update(next_send_at=timezone.now() + timedelta(seconds=TICK))  # the slot comes meanwhile
    harness.log(f"beat killed; every reader's weekly slot is {TICK:.0f} s away")
    # Beat's own heartbeat goes stale first (it writes twice a tick); then the last tick's age.
    first_503 = None
    status, body = readyz(base)
    while body["checks"]["tick"]["ok"] and time.monotonic() - stopped < 4 * TWO_TICKS:
        if status == 503 and first_503 is None:
            first_503 = time.monotonic() - stopped
        time.sleep(POLL)
        status, body = readyz(base)
    to_503 = time.monotonic() - stopped
    first_503 = first_503 if first_503 is not None else to_503
    tick_line = body["checks"]["tick"]
    harness.log(f"/readyz {status} after {first_503:.1f} s (beat); tick failing after {to_503:.1f} s: {tick_line}")

    staff = User.objects.create_superuser("drill-operator", password="x")
    client = Client(HTTP_HOST="localhost")
    client.force_login(staff)
    page = client.get("/ops/").content.decode()
    dashboard_red = ('class="bad" data-check="tick"' in page and 'class="bad" data-check="beat"' in page
                     and "a check fails" in page)  # fmt: skip

    time.sleep(max(0.0, OUTAGE_TICKS * TICK - (time.monotonic() - stopped)))
    during = sink.received - welcomed
    due = Subscriber.objects.filter(next_send_at__lte=timezone.now()).count()
    harness.log(f"outage over ({OUTAGE_TICKS} ticks): {during} sent meanwhile, {due} readers due; beat starts again")
    beat.start()
    harness.wait_for(lambda: sink.received - welcomed >= READERS, what="the missed slot's emails", seconds=60)
    back = time.monotonic() - stopped - OUTAGE_TICKS * TICK
    time.sleep(3 * TICK)  # a few more ticks: nothing more may go out
    harness.wait_for(lambda: readyz(base)[0] == 200, what="/readyz to be 200 again", seconds=20)
    after_status, _ = readyz(base)

    deliveries, lost, sending = harness.delivery_accounting(sink)
    new = sink.received - welcomed
    per_reader = {n for n in sink.by_recipient.values()}
    row.done = f"beat killed {OUTAGE_TICKS} ticks ({OUTAGE_TICKS * TICK:.0f} s at {TICK:.0f} s); {READERS} readers due"
    row.expected = "503 within 2 ticks, dashboard red, 1 email each"
    row.lost, row.duplicates, row.errors_500 = lost, sink.duplicates(), ANSWERS[500]
    row.notes += [
        f"/readyz 503 {first_503:.1f} s after beat stopped (beat line), tick line failing at {to_503:.1f} s "
        f"(two ticks: {TWO_TICKS:.2f} s): {tick_line['detail']}",
        f"dashboard red: {dashboard_red}; {during} emails during the outage; {new} after it "
        f"(the last {back:.1f} s after beat returned); emails per reader {sorted(per_reader)}; "
        f"{deliveries} deliveries, {sending} left sending; /readyz after: {after_status}",
    ]
    row.passed = (status == 503 and not tick_line["ok"] and to_503 <= TWO_TICKS + 1.0 and dashboard_red
                  and during == 0 and new == READERS and per_reader == {2} and lost == 0 and row.duplicates == 0
                  and sending == 0 and after_status == 200)  # fmt: skip


if __name__ == "__main__":
    harness.run("beat-stopped", drill)
