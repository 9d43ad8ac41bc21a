"""Reply → confirmation latency through the real parts: gunicorn answering anymail's Postmark
inbound webhook, Redis as the broker, a real Celery worker processing each reply and sending its
confirmation (to the outbox backend, a database row), PostgreSQL under all of it.

READERS readers each get a check-in; each replies "3" (a stage change, so a confirmation is
owed), posted on a schedule of RATE replies a second from a few client threads. The latency of
one reply runs from the moment its POST starts to the moment its confirmation row is written.
Prints p50, p95 and p99, the worst, and the rate actually posted. Left out: the ESP's own delay
on both legs (receiving the reply, delivering the confirmation) and TLS.

Run: .venv/bin/python bench/reply_latency.py [--readers 400] [--rate 50] (bench/inbound.py runs it too)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from drills import harness, webhooks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=400)
    parser.add_argument("--rate", type=float, default=50.0, help="replies a second")
    args = parser.parse_args()
    with ExitStack() as stack:
        folder = harness.workdir(stack, "reply-latency")
        redis = harness.RedisServer(stack, folder)
        env = harness.product_env(harness.throwaway_database(stack, "replylatency"), redis.url, folder)
        harness.setup_django(env)
        from course.models import Course
        from lessons.models import Lesson
        from subscribers.models import Delivery, OutboxMessage
        from subscribers.readers.addresses import reply_address
        from subscribers.readers.enrolment import Intake, enroll

        course = Course.objects.get(slug="clinical-to-non-clinical")
        checkin = Lesson.objects.filter(course=course, kind="checkin").order_by("month", "order").first()
        readers = []
        for number in range(args.readers):
            reader = enroll(course, Intake(email=f"r{number}@latency.example", first_name="Rae"), actor="bench",
                            why="latency bench")  # fmt: skip
            sent = reader.enrolled_at
            delivery = Delivery.objects.create(subscriber=reader, lesson=checkin, version=checkin.current_version,
                                               due_at=sent, state="sent", sent_at=sent)  # fmt: skip
            readers.append((reader.email, reply_address(reader.pk, delivery.pk)))
        OutboxMessage.objects.all().delete()
        worker = harness.celery_worker(stack, "worker", env, folder)
        harness.wait_ready(worker)
        _web, base = harness.gunicorn(stack, env, folder, workers=2, threads=4)

        posted: dict[str, float] = {}
        failures: list[str] = []
        local = threading.local()

        def reply(email: str, address: str) -> None:
            session = getattr(local, "session", None) or requests.Session()
            local.session = session
            request = webhooks.inbound(webhooks.reply_mime(email, address, "3"))
            posted[email] = time.time()
            response = session.post(base + request.path, data=request.body, headers=request.headers, timeout=30)
            if response.status_code != 200:
                failures.append(f"{email}: {response.status_code}")

        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=8) as pool:
            for index, (email, address) in enumerate(readers):
                due = start + index / args.rate
                while (left := due - time.perf_counter()) > 0:
                    time.sleep(min(left, 0.005))
                pool.submit(reply, email, address)
        posting = time.perf_counter() - start

        def confirmed() -> int:
            return OutboxMessage.objects.filter(recipient__endswith="@latency.example").count()

        harness.wait_for(lambda: confirmed() >= len(readers) - len(failures), what="every confirmation", seconds=180)
        first: dict[str, float] = {}
        for recipient, created in OutboxMessage.objects.filter(recipient__endswith="@latency.example").values_list(
            "recipient", "created_at"
        ):
            first[recipient] = min(first.get(recipient, created.timestamp()), created.timestamp())
        latencies = sorted((first[email] - posted[email]) * 1000 for email in first if email in posted)
        quantiles = statistics.quantiles(latencies, n=100)
        print(f"reply → confirmation through gunicorn, Redis and one Celery worker (solo pool), "
              f"{len(readers)} replies at {len(readers) / posting:.1f}/s (asked {args.rate:g}/s):")  # fmt: skip
        print(f"  p50 {quantiles[49]:.0f} ms, p95 {quantiles[94]:.0f} ms, p99 {quantiles[98]:.0f} ms, "
              f"worst {latencies[-1]:.0f} ms; {len(failures)} posts refused")  # fmt: skip


if __name__ == "__main__":
    main()
