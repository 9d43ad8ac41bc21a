"""Drill 1, worker killed: `kill -9` a real Celery worker several times during 2,000 sends to a
real SMTP sink on loopback. Expected: after recovery 0 deliveries lost, at most one duplicate
per kill (a worker killed between the SMTP server's 250 and recording the send), and no
`sending` row left behind.

    .venv/bin/python drills/worker_killed.py

Two `--pool=solo` workers share the queue; each kill takes one of them down (its process group)
and starts it again. The drill runs the tick itself every few seconds, as beat would, with the
stale-claim rules shortened to seconds so a dead worker's deliveries are taken over quickly.
"""

from __future__ import annotations

import sys
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from drills import harness

READERS = 2000
KILL_AT = (250, 650, 1050, 1450)
TICK_EVERY = 3.0
DEADLINE = 100.0


def drill(stack: ExitStack, row: harness.Row) -> None:
    folder = harness.workdir(stack, "worker")
    sink = harness.SmtpSink(stack)
    redis = harness.RedisServer(stack, folder)
    env = harness.product_env(
        harness.throwaway_database(stack, "worker"), redis.url, folder,
        DRIP_STALE_SENDING_SECONDS="5", DRIP_STALE_PENDING_SECONDS="10", DRIP_BATCH_SIZE="500", **sink.env(),
    )  # fmt: skip
    harness.setup_django(env)
    from django.db import transaction

    from course.models import Course
    from subscribers.models import Delivery
    from subscribers.readers.enrolment import Intake, enroll
    from subscribers.sending import drip

    course = Course.objects.get(slug="clinical-to-non-clinical")
    with transaction.atomic():
        for i in range(READERS):
            enroll(course, Intake(email=f"reader{i}@drill.example", first_name=f"R{i}"), actor="drill", why="drill")
    harness.log(f"{READERS} readers enrolled; starting two workers")
    workers = [harness.celery_worker(stack, f"worker{n}", env, folder) for n in (1, 2)]
    for worker in workers:
        harness.wait_ready(worker)

    kills, started, last_tick = 0, time.monotonic(), 0.0
    while True:
        now = time.monotonic()
        if now - last_tick >= TICK_EVERY:
            drip.tick()
            last_tick = now
        if kills < len(KILL_AT) and sink.received >= KILL_AT[kills]:
            victim = workers[kills % 2]
            victim.kill()
            kills += 1
            harness.log(f"kill -9 {victim.name} at {sink.received} received; starting it again")
            victim.start()
        if not Delivery.objects.exclude(state=Delivery.State.SENT).exists() and Delivery.objects.count() >= READERS:
            break
        if now - started > DEADLINE:
            row.notes.append(f"deadline: {Delivery.objects.exclude(state=Delivery.State.SENT).count()} not sent")
            break
        time.sleep(0.2)
    time.sleep(1)  # anything still in flight at the sink lands
    deliveries, lost, sending = harness.delivery_accounting(sink)
    duplicates = sink.duplicates()
    row.done = f"{deliveries} sends over SMTP, {kills} x kill -9 of a worker"
    row.expected = f"0 lost, ≤{kills} dup (1/kill), 0 sending"
    row.lost, row.duplicates, row.errors_500 = lost, duplicates, None
    row.notes.append(f"{sink.received} messages at the sink, {sending} rows left sending")
    row.passed = deliveries == READERS and lost == 0 and duplicates <= kills and sending == 0 and kills == len(KILL_AT)


if __name__ == "__main__":
    harness.run("worker-killed", drill)
