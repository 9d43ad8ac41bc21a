"""Benchmark check-ins by reply; prints two medians:

- webhook store-and-queue: one Postmark-shaped reply POSTed to the real anymail inbound view,
  stored (raw MIME, unique Message-ID) and its processing task queued on the broker (target
  ≤ 10 ms on PostgreSQL + Redis);
- understand: the reply corpus in tests/fixtures/replies/, per reply (target ≤ 2 ms);
- hostile read worst case: every reply of tests/hostile_replies.py (blank runs, endless lines,
  repeated quote headers, a 1 MB attachment, a text body at Postmark's 35 MB limit...), each read
  (new text, then understanding) five times after a warm-up; the slowest median (target ≤ 50 ms);
- reply → confirmation latency through gunicorn, Redis and a real Celery worker at 50 replies/s,
  p50 and p99 (bench/reply_latency.py, run at the end).

Run: .venv/bin/python bench/inbound.py — on PostgreSQL (BENCH_DATABASE_URL, default the local
server) and Redis (REDIS_URL, default db 13 of the local server); it creates a throwaway
database and drops it afterwards.
"""

from __future__ import annotations

import base64
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("ENV_FILE", "")
os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/13")
os.environ["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_inbound")

import django  # noqa: E402

django.setup()

from anymail.inbound import AnymailInboundMessage  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

POSTS = 300
CORPUS = ROOT / "tests" / "fixtures" / "replies"
SECRET = "bench:webhook-secret"


def bench_webhook() -> float:
    from config.celery import app
    from lessons.importing import import_path
    from subscribers.models import Delivery, Reply
    from subscribers.readers.addresses import reply_address
    from subscribers.readers.enrolment import Intake, enroll
    from subscribers.sending import drip, esp_payloads

    (report,) = import_path(ROOT / "tests" / "fixtures" / "courses" / "checkin-course")
    reader = enroll(report.course, Intake(email="bench@example.com", first_name="Bea"), actor="bench", why="bench")
    checkin = report.course.lessons.get(kind="checkin")
    delivery = Delivery.objects.create(
        subscriber=reader, lesson=checkin, version=checkin.current_version, due_at=reader.enrolled_at
    )
    drip.send_delivery(delivery.pk)
    client = Client()
    auth = {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(SECRET.encode()).decode()}
    timings = []
    for i in range(POSTS):
        raw = esp_payloads.reply_mime(
            sender=reader.email, to=reply_address(reader.pk, delivery.pk), subject="Check-in", in_reply_to="",
            quoted_from="Pivot Path <course@pivotpath.localhost>", quoted_text="1. Deciding\n2. Conversations",
            text=f"{i % 5 + 1}",
        )  # fmt: skip
        payload = esp_payloads.postmark(raw)
        started = time.perf_counter()
        response = client.post(payload.path, payload.body, content_type=payload.content_type, **auth)
        timings.append(time.perf_counter() - started)
        assert response.status_code == 200, response.content
    assert Reply.objects.count() == POSTS
    app.control.purge()  # the queued processing tasks belong to this throwaway database
    return statistics.median(timings[10:]) * 1000


def bench_understand() -> tuple[float, int]:
    from subscribers.replies.inbound import new_text
    from subscribers.replies.understanding import understand

    texts = [new_text(AnymailInboundMessage.parse_raw_mime_bytes(p.read_bytes())) for p in sorted(CORPUS.glob("*.eml"))]
    per_reply = []
    for text in texts:
        started = time.perf_counter()
        for _ in range(20):
            understand(text)
        per_reply.append((time.perf_counter() - started) / 20)
    return statistics.median(per_reply) * 1000, len(texts)


def bench_hostile() -> tuple[float, str, int]:
    from subscribers.replies.reading import new_text
    from subscribers.replies.understanding import understand
    from tests import hostile_replies

    worst, worst_name = 0.0, ""
    cases = hostile_replies.cases(esp_limit=True)
    for name, raw in cases.items():
        message = AnymailInboundMessage.parse_raw_mime_bytes(raw)
        understand(new_text(message))
        timings = []
        for _ in range(5):
            started = time.perf_counter()
            understand(new_text(message))
            timings.append(time.perf_counter() - started)
        if statistics.median(timings) * 1000 > worst:
            worst, worst_name = statistics.median(timings) * 1000, name
    return worst, worst_name, len(cases)


def main() -> None:
    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    anymail = {**settings.ANYMAIL, "WEBHOOK_SECRET": [SECRET]}
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        with override_settings(ANYMAIL=anymail, EMAIL_BACKEND="subscribers.sending.outbox.OutboxBackend"):
            webhook_ms = bench_webhook()
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    understand_ms, replies = bench_understand()
    hostile_ms, hostile_name, hostile = bench_hostile()
    engine = connection.vendor
    broker = "redis" if settings.REDIS_URL else "filesystem"
    print(f"webhook store-and-queue median: {webhook_ms:.2f} ms over {POSTS} posts ({engine}, {broker} broker)")
    print(f"understand median: {understand_ms:.3f} ms per reply over {replies} corpus replies")
    print(
        f"hostile read worst case: {hostile_ms:.1f} ms ({hostile_name}) over {hostile} hostile replies (target ≤ 50 ms)"
    )
    # The latency through a real worker runs in processes of its own (bench/reply_latency.py).
    subprocess.run([sys.executable, str(ROOT / "bench" / "reply_latency.py")], check=False)


if __name__ == "__main__":
    main()
