"""Send benchmark, every figure from one run on this machine: a real SMTP sink (aiosmtpd) on
loopback and a local HTTP stand-in for the ESP's API (answering like Mailgun's messages
endpoint; anymail is pointed at it with MAILGUN_API_URL). Each sender sends the same
personalised lesson to N readers:

- ours: subscribers.sending.drip.send_deliveries in chunks of 100 — claim, render, send, journal,
  record — through the product's SMTP backend (subscribers.sending.smtp: Django's, sending bytes its
  helper thread prepared while the message before was on the wire);
- Django's own `send_messages` over one SMTP connection, messages built from the same copy;
- django-post-office: queue them (`send_many`), then `send_queued()`;
- raw `smtplib` over one connection, each message built with the standard library;
- ours through the ESP stand-in: one batch call per lesson version and chunk (merge data)
  against one request per message.

Prints messages per second and the ratios with their targets: ours / Django >= 0.8,
ours / post-office >= 1.2, ours / raw smtplib >= 0.4, batch / one request each >= 5.

Run: .venv/bin/python bench/send.py [--messages 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing
import os
import smtplib
import socket
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ["DJANGO_SETTINGS_MODULE"] = "bench.send_settings"
os.environ.setdefault("REDIS_URL", "")

from bench.common import django_on_postgres

ROUNDS = 2
TARGETS = {"django": 0.8, "post_office": 1.2, "smtplib": 0.4, "batch": 5.0}


def _serve_sink(port: int, count, stop) -> None:
    from aiosmtpd.controller import Controller

    logging.getLogger("mail.log").setLevel(logging.WARNING)  # not a line per SMTP command

    class Handler:
        async def handle_DATA(self, server, session, envelope) -> str:
            with count.get_lock():
                count.value += len(envelope.rcpt_tos)
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    stop.wait()
    controller.stop()


class Sink:
    """aiosmtpd on loopback, counting what it accepts. It runs in its own process, as a real
    SMTP server would, so it takes no CPU time from the senders' interpreter."""

    def __init__(self) -> None:
        with socket.socket() as probe:  # a free port (the controller cannot take port 0)
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        context = multiprocessing.get_context("fork")
        self._count, self._stop = context.Value("q", 0), context.Event()
        self._process = context.Process(target=_serve_sink, args=(self.port, self._count, self._stop), daemon=True)

    @property
    def count(self) -> int:
        return self._count.value

    def __enter__(self) -> Sink:
        self._process.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # wait until the sink accepts connections
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        raise RuntimeError("the SMTP sink did not start")

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._process.join(10)


class EspStandIn:
    """A threaded HTTP server that answers like Mailgun's `POST /v3/<domain>/messages`."""

    def __init__(self) -> None:
        stand_in = self
        self.requests = 0
        self.lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else each answer waits ~40 ms for a delayed ACK

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with stand_in.lock:
                    stand_in.requests += 1
                body = json.dumps({"id": f"<{uuid.uuid4().hex}@bench.example>", "message": "Queued. Thank you."})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    def __enter__(self) -> EspStandIn:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v3"
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    args = parser.parse_args()
    asyncio.set_event_loop_policy(None)
    logging.getLogger("post_office").setLevel(logging.WARNING)
    with django_on_postgres("pivotpath_bench_send"), Sink() as sink, EspStandIn() as esp:
        run(args.messages, sink, esp)


def seed(count: int):
    from django.db import transaction
    from django.utils import timezone

    from lessons.importing import import_path
    from lessons.models import Lesson
    from subscribers.models import Delivery, Subscriber

    (report,) = import_path(Path(__file__).resolve().parent.parent / "lessons/content/clinical-to-non-clinical")
    welcome = Lesson.objects.get(course=report.course, kind="welcome")
    now = timezone.now()
    with transaction.atomic():
        readers = Subscriber.objects.bulk_create(
            [Subscriber(course=report.course, email=f"reader{i}@bench.example", first_name=f"Reader{i}",
                        enrolled_at=now, time_zone="America/Chicago") for i in range(count)]
        )  # fmt: skip
        Delivery.objects.bulk_create(
            [Delivery(subscriber=r, lesson=welcome, version=welcome.current_version, due_at=now) for r in readers]
        )
    return list(Delivery.objects.order_by("pk").values_list("pk", flat=True))


def reset() -> None:
    from subscribers.models import Delivery, Subscriber

    Delivery.objects.update(state="pending", attempts=0, claimed_at=None, sent_at=None, provider_message_id="")
    Subscriber.objects.update(next_send_at=None, status="active")


def ours(ids: list[int]) -> float:
    from subscribers.sending import drip

    start = time.perf_counter()
    for offset in range(0, len(ids), drip.SEND_CHUNK):
        report = drip.send_deliveries(ids[offset : offset + drip.SEND_CHUNK])
        assert set(report.outcomes.values()) == {"sent"}, set(report.outcomes.values())
    return time.perf_counter() - start


def prepared_copies(ids: list[int]) -> list[tuple[str, str, str, str, dict]]:
    """What every other sender sends: each reader's personalised copy, rendered beforehand."""
    from django.utils import timezone

    from subscribers.models import Delivery
    from subscribers.sending import emails

    copies = []
    for delivery in Delivery.objects.select_related("subscriber__course", "lesson", "version").filter(pk__in=ids):
        message = emails.lesson_email(delivery, timezone.now())
        html = message.alternatives[0][0]
        copies.append((delivery.subscriber.email, message.subject, message.body, html, dict(message.extra_headers)))
    return copies


def django_send_messages(copies) -> float:
    from django.conf import settings
    from django.core.mail import EmailMultiAlternatives, get_connection

    start = time.perf_counter()
    messages = []
    for to, subject, text, html, headers in copies:
        message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, [to], headers=headers)
        message.attach_alternative(html, "text/html")
        messages.append(message)
    sent = get_connection("django.core.mail.backends.smtp.EmailBackend").send_messages(messages)
    assert sent == len(copies)
    return time.perf_counter() - start


def post_office(copies) -> float:
    from django.conf import settings
    from post_office import mail

    start = time.perf_counter()
    mail.send_many(
        [{"recipients": [to], "sender": settings.DEFAULT_FROM_EMAIL, "subject": subject, "message": text,
          "html_message": html, "headers": headers} for to, subject, text, html, headers in copies]
    )  # fmt: skip
    sent = failed = 0
    while sent + failed < len(copies):  # each call sends one batch (post-office's BATCH_SIZE)
        batch_sent, batch_failed, _ = mail.send_queued(processes=1)
        sent, failed = sent + batch_sent, failed + batch_failed
    assert (sent, failed) == (len(copies), 0), (sent, failed)
    return time.perf_counter() - start


def raw_smtplib(copies, port: int) -> float:
    """What a sender with no framework does: build each MIME message with the standard library
    and hand it to smtplib over one connection."""
    from email.message import EmailMessage

    start = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for to, subject, text, html, headers in copies:
            message = EmailMessage()
            message["From"], message["To"], message["Subject"] = "course@pivotpath.localhost", to, subject
            for name, value in headers.items():
                message[name] = value
            message.set_content(text)
            message.add_alternative(html, subtype="html")
            smtp.send_message(message)
    return time.perf_counter() - start


def run(count: int, sink: Sink, esp: EspStandIn) -> None:
    from django.conf import settings

    settings.EMAIL_BACKEND = "subscribers.sending.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", sink.port
    settings.SEND_RATE_PER_SECOND = 0  # the raw pipeline; the rate limit is tested, not benchmarked
    settings.SENDER_POSTAL_ADDRESS = "Pivot Path, 100 Main Street, Portland, OR 97205"
    ids = seed(count)
    copies = prepared_copies(ids)
    print(f"{count:,} personalised copies of one lesson to {count:,} readers; SMTP sink on 127.0.0.1:{sink.port}")

    started = time.perf_counter()
    ours(ids[:100])  # warm up: connections, the render cache
    reset()
    # Best of ROUNDS, interleaved, so a busy moment on the machine does not decide a ratio.
    results: dict[str, float] = {}
    before = sink.count
    for _ in range(ROUNDS):
        reset()
        timings = {"ours": ours(ids), "django": django_send_messages(copies), "post_office": post_office(copies),
                   "smtplib": raw_smtplib(copies, sink.port)}  # fmt: skip
        results = {name: min(seconds, results.get(name, seconds)) for name, seconds in timings.items()}
    assert sink.count - before == 4 * ROUNDS * count, "every sender delivered every message to the sink"

    print("  " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in results.items()))
    rate = {name: count / seconds for name, seconds in results.items()}
    labels = {"ours": "ours (claim, render, send, record)", "django": "Django send_messages",
              "post_office": "django-post-office (queue + send_queued)",
              "smtplib": "raw smtplib (stdlib email + smtplib)"}  # fmt: skip
    for name, label in labels.items():
        print(f"  {label:<44} {rate[name]:>8,.0f} messages/s")

    # ESP API: the same pipeline through anymail's Mailgun backend against the stand-in.
    settings.EMAIL_BACKEND = "anymail.backends.mailgun.EmailBackend"
    settings.ANYMAIL = {**settings.ANYMAIL, "MAILGUN_API_KEY": "key-bench", "MAILGUN_API_URL": esp.url,
                        "MAILGUN_SENDER_DOMAIN": "pivotpath.localhost"}  # fmt: skip
    esp_rates: dict[bool, float] = {}
    for _ in range(ROUNDS):
        for batching in (False, True):
            settings.ESP_BATCH_SENDING = batching
            reset()
            esp_rates[batching] = max(count / ours(ids), esp_rates.get(batching, 0))
    for batching in (False, True):
        label = "ESP API, " + ("one batch call per chunk" if batching else "one request per message")
        print(
            f"  {label:<44} {esp_rates[batching]:>8,.0f} messages/s  ({count // 100 if batching else count:,} requests)"
        )

    print(f"  (all runs: {time.perf_counter() - started:.0f} s)")
    ratios = {
        "django": rate["ours"] / rate["django"],
        "post_office": rate["ours"] / rate["post_office"],
        "smtplib": rate["ours"] / rate["smtplib"],
        "batch": esp_rates[True] / esp_rates[False],
    }
    names = {"django": "ours / Django send_messages", "post_office": "ours / django-post-office",
             "smtplib": "ours / raw smtplib", "batch": "ESP batch / one request per message"}  # fmt: skip
    for key, name in names.items():
        verdict = "ok" if ratios[key] >= TARGETS[key] else "BELOW TARGET"
        print(f"{name:<40} {ratios[key]:6.2f}  (target >= {TARGETS[key]})  {verdict}")


if __name__ == "__main__":
    main()
