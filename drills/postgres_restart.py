"""Drill 3, PostgreSQL restart: the database restarts (fast shutdown: every session cut off
mid-transaction) during ticks and sends, while web (gunicorn), a worker and beat run and Stripe
keeps posting paid checkouts. Nothing is restarted by hand.

Expected: nothing lost (every delivery reaches the SMTP sink, every paid checkout enrols its
reader, whose welcome goes out too), at most one duplicate per restart (a send the SMTP server
accepted just before the database went away), no 500s (the web answers 503 + Retry-After while
the database is down, and the drill retries as Stripe would), web serves again afterwards.

    .venv/bin/python drills/postgres_restart.py
"""

from __future__ import annotations

import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from drills import harness, webhooks

READERS = 500
PAYERS = 60
RESTART_AT = (100, 350)
DEADLINE = 90.0


def drill(stack: ExitStack, row: harness.Row) -> None:
    folder = harness.workdir(stack, "postgres")
    sink = harness.SmtpSink(stack)
    redis = harness.RedisServer(stack, folder)
    cluster = harness.PostgresCluster(stack, folder)
    env = harness.product_env(
        cluster.url, redis.url, folder, DRIP_STALE_SENDING_SECONDS="5", DRIP_STALE_PENDING_SECONDS="8",
        DRIP_TICK_SECONDS="2", DRIP_BATCH_SIZE="200", **sink.env(),
    )  # fmt: skip
    harness.setup_django(env)
    from django.db import connection, transaction

    from course.models import Course
    from subscribers.models import Delivery, Signup, Subscriber
    from subscribers.readers.enrolment import Intake, enroll

    course = Course.objects.get(slug="clinical-to-non-clinical")
    with transaction.atomic():
        for i in range(READERS):
            enroll(course, Intake(email=f"r{i}@drill.example"), actor="drill", why="drill")
        signups = [
            Signup.objects.create(
                course=course,
                email=f"payer{n}@drill.example",
                first_name="P",
                time_zone="UTC",
                send_hour=8,
                destination="payer",
            )
            for n in range(PAYERS)
        ]
    connection.close()
    _web, base = harness.gunicorn(stack, env, folder, workers=2, threads=4)
    worker = harness.celery_worker(stack, "worker", env, folder)
    harness.wait_ready(worker)
    beat = harness.spawn(stack, "beat", [harness.PYTHON, "-m", "celery", "-A", "config", "beat", "--loglevel=INFO",
                                         "-s", str(folder / "beat-schedule")], env, folder)  # fmt: skip

    # Stripe, meanwhile: one paid checkout every 100 ms, each retried on any non-2xx as Stripe does.
    answers: list[int] = []
    stop = threading.Event()

    def stripe() -> None:
        session = requests.Session()
        for n, signup in enumerate(signups):
            while not stop.is_set():
                request = webhooks.signed(webhooks.paid_event(str(signup.reference), n))
                try:
                    status = session.post(base + request.path, data=request.body, headers=request.headers,
                                          timeout=10).status_code  # fmt: skip
                except requests.RequestException:
                    status = 0
                answers.append(status)
                if status == 200:
                    break
                time.sleep(0.5)
            time.sleep(0.1)

    poster = threading.Thread(target=stripe, daemon=True)
    poster.start()
    stack.callback(stop.set)

    restarts, started = 0, time.monotonic()
    while restarts < len(RESTART_AT) and time.monotonic() - started < DEADLINE:
        if sink.received >= RESTART_AT[restarts]:
            harness.log(f"restarting PostgreSQL at {sink.received} received")
            cluster.restart()
            restarts += 1
        time.sleep(0.1)
    poster.join(DEADLINE)

    def settled() -> bool:
        try:
            done = not Delivery.objects.exclude(state=Delivery.State.SENT).exists()
            return (
                done and Subscriber.objects.count() == READERS + PAYERS and Delivery.objects.count() >= READERS + PAYERS
            )
        except Exception:  # the controller's own connection may have been cut by a restart
            connection.close()
            return False

    try:
        harness.wait_for(settled, what="every delivery sent", seconds=max(5.0, DEADLINE - (time.monotonic() - started)))
    except TimeoutError as exc:
        row.notes.append(str(exc))
    time.sleep(1)
    deliveries, lost, sending = harness.delivery_accounting(sink)
    home = requests.get(base + "/", timeout=10).status_code
    enrolled = Subscriber.objects.filter(email__startswith="payer").count()
    row.done = f"{restarts} PostgreSQL restarts mid tick and send; web, worker, beat on"
    row.expected = f"0 lost, ≤{restarts} dup, no manual restart"
    row.lost = lost + (PAYERS - enrolled)
    row.duplicates = sink.duplicates()
    row.errors_500 = answers.count(500)
    row.notes += [
        f"{deliveries} deliveries, {sink.received} at the sink, {sending} left sending; {enrolled}/{PAYERS} payers "
        f"enrolled; Stripe answers: {answers.count(200)} x 200, {answers.count(503)} x 503 (retried), "
        f"{answers.count(0)} refused connections, {answers.count(500)} x 500",
        f"after: GET / {home}; beat {'running' if beat.running else 'DEAD'}, worker "
        f"{'running' if worker.running else 'DEAD'}",
    ]
    row.passed = (restarts == len(RESTART_AT) and row.lost == 0 and row.duplicates <= restarts and sending == 0
                  and row.errors_500 == 0 and home == 200 and beat.running and worker.running)  # fmt: skip


if __name__ == "__main__":
    harness.run("postgres-restart", drill)
