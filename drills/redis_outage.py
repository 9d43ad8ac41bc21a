"""Drill 2, Redis outage: the broker is down for several ticks, then starts again empty (no
persistence, so every queued message is gone), with a real worker sending to an SMTP sink.

The readers enrolled three weeks ago and missed three weekly slots. Expected: nothing lost,
nothing sent twice, and the catch-up sends each reader one email, not one per missed slot:
afterwards every reader's next email is at least 12 hours away.

    .venv/bin/python drills/redis_outage.py
"""

from __future__ import annotations

import sys
import time
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from drills import harness

READERS = 300
OUTAGE_TICKS = 3
DEADLINE = 60.0


def drill(stack: ExitStack, row: harness.Row) -> None:
    folder = harness.workdir(stack, "redis")
    sink = harness.SmtpSink(stack)
    redis = harness.RedisServer(stack, folder)
    env = harness.product_env(
        harness.throwaway_database(stack, "redis"), redis.url, folder,
        DRIP_STALE_SENDING_SECONDS="5", DRIP_STALE_PENDING_SECONDS="5", **sink.env(),
    )  # fmt: skip
    harness.setup_django(env)
    from django.db import transaction
    from django.utils import timezone

    from course.models import Course
    from subscribers.models import Delivery, Subscriber
    from subscribers.readers.enrolment import Intake, enroll
    from subscribers.sending import drip

    course = Course.objects.get(slug="clinical-to-non-clinical")
    three_weeks_ago = timezone.now() - timedelta(weeks=3)
    with transaction.atomic():
        for i in range(READERS):
            enroll(course, Intake(email=f"r{i}@drill.example"), actor="drill", why="drill", now=three_weeks_ago)
    worker = harness.celery_worker(stack, "worker", env, folder)
    harness.wait_ready(worker)

    redis.stop()
    harness.log("redis-server killed; ticking through the outage")
    planned = 0
    for _ in range(OUTAGE_TICKS):
        planned += drip.tick().planned  # the sends cannot be queued: the rows stay pending
        time.sleep(1)
    during = sink.received
    redis.start()
    harness.log(f"redis-server started again (empty); {planned} planned during the outage, {during} sent")
    started = time.monotonic()
    while Delivery.objects.exclude(state=Delivery.State.SENT).exists() and time.monotonic() - started < DEADLINE:
        drip.tick()
        time.sleep(2)
    time.sleep(1)
    after = drip.tick()  # nothing more is due: one email per missed run of slots, not one per slot
    deliveries, lost, sending = harness.delivery_accounting(sink)
    per_reader = max(sink.by_recipient.values(), default=0)
    soonest = Subscriber.objects.order_by("next_send_at").values_list("next_send_at", flat=True).first()
    spaced = soonest is not None and soonest >= timezone.now() + timedelta(hours=11)
    row.done = f"Redis down {OUTAGE_TICKS} ticks, back empty; {READERS} readers 3 wk behind"
    row.expected = "0 lost, 0 dup, 1 email per reader"
    row.lost, row.duplicates = lost, sink.duplicates()
    row.notes += [
        f"{planned} planned during the outage, {during} sent during it; {deliveries} deliveries, "
        f"{sink.received} at the sink, most to one reader {per_reader}, {sending} left sending",
        f"tick after catch-up planned {after.planned}; soonest next email {soonest:%Y-%m-%d %H:%M} UTC",
    ]
    row.passed = (deliveries == READERS and lost == 0 and row.duplicates == 0 and per_reader == 1 and sending == 0
                  and after.planned == 0 and spaced and during == 0)  # fmt: skip


if __name__ == "__main__":
    harness.run("redis-outage", drill)
