"""Operator pages on PostgreSQL at scale: 100,000 readers and 5,000,000 deliveries.

Seeds a throwaway database with COPY (psycopg's `cursor.copy`, constraints and indexes dropped
during the load and rebuilt after), then renders each /ops/ page as a staff user and prints its
median render time (target <= 300 ms) and statement count, and how fast the CSV exports stream.

Each reader has 50 weekly emails ending somewhere in the last two years (so about half are in
the course now), a reply to 60% of their check-ins, and audit rows.

Run: .venv/bin/python bench/dashboard.py [--readers 100000] [--per-reader 50]
     .venv/bin/python bench/dashboard.py --both    # 100,000 x 50, then 1,000,000 x 20 (20,000,000 deliveries)
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import django_on_postgres

TARGET_MS = 300
CHUNK_ROWS = 100_000
FAILURE = "SMTPServerDisconnected: Connection unexpectedly closed"
# (readers, deliveries per reader) for --both: the everyday size and a large one.
SIZES = ((100_000, 50), (1_000_000, 20))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=100_000)
    parser.add_argument("--per-reader", type=int, default=50, help="deliveries per reader")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards (to EXPLAIN queries)")
    parser.add_argument("--both", action="store_true", help=f"run at each of SIZES, one process each: {SIZES}")
    args = parser.parse_args()
    if args.both:
        for readers, per_reader in SIZES:
            print(f"\n=== {readers:,} readers, {readers * per_reader:,} deliveries ===", flush=True)
            subprocess.run([sys.executable, __file__, f"--readers={readers}", f"--per-reader={per_reader}"], check=True)
        return
    with django_on_postgres("pivotpath_bench_dashboard", keep=args.keep):
        started = time.perf_counter()
        began = time.perf_counter()
        seed(args.readers, args.per_reader)
        print(f"seeded {args.readers:,} readers and {args.readers * args.per_reader:,} deliveries in "
              f"{time.perf_counter() - began:.0f} s", flush=True)  # fmt: skip
        pages()
        print(f"whole run {time.perf_counter() - started:.0f} s")


def seed(readers: int, per_reader: int) -> None:
    from django.db import connection
    from django.utils import timezone

    from course.vocabulary import Destination, Kind, Stage
    from lessons.importing import import_path
    from lessons.models import Lesson

    (report,) = import_path(Path(__file__).resolve().parent.parent / "lessons/content/clinical-to-non-clinical")
    course = report.course
    lessons = list(Lesson.objects.filter(course=course).order_by("month", "order").values_list(
        "id", "current_version_id", "kind", "slug"))[:per_reader]  # fmt: skip
    if len(lessons) < per_reader:
        sys.exit(f"the course has {len(lessons)} lessons; --per-reader must be at most that")
    now = timezone.now().replace(microsecond=0)
    rng = random.Random(8)
    stages, destinations = Stage.values, Destination.values
    start = time.perf_counter()
    subscribers, deliveries, replies, events = [], [], [], []
    week = timedelta(weeks=1)
    delivery_id = reply_id = 0
    for reader in range(1, readers + 1):
        end = now - timedelta(seconds=rng.randrange(0, 730 * 86400))
        enrolled = end - week * (per_reader - 1) - timedelta(minutes=5)
        recent = now - end < timedelta(days=8)
        status = rng.choice(["active"] * 12 + ["paused", "unsubscribed", "suppressed"]) if recent else (
            rng.choice(["completed"] * 8 + ["unsubscribed", "refunded"]))  # fmt: skip
        stage = stages[min(int((now - enrolled).days / 80) + rng.randint(-1, 1), 4) if recent else 4]
        subscribers.append(f"{reader}\t{course.pk}\treader{reader}@bench.example\tReader {reader}\t\t{status}\t"
                           f"{stage}\t{rng.choice(destinations)}\tAmerica/Chicago\t8\t0\t{enrolled.isoformat()}\t"
                           f"0\t{now.isoformat()}\t{now.isoformat()}\t\tunsure\tunsure\n")  # fmt: skip
        events.append(f"{reader}\tenrolled\t{enrolled.isoformat()}\t\tsystem\n")
        for k, (lesson_id, version_id, kind, _) in enumerate(lessons):
            delivery_id += 1
            at = (enrolled + week * k).isoformat()
            roll = rng.random()
            if roll < 0.004:
                deliveries.append(f"{delivery_id}\t{reader}\t{lesson_id}\t{version_id}\tfailed\t{at}\t{k + 1}\t"
                                  f"{k // 4 + 1}\t{at}\t{at}\t\\N\t3\t{FAILURE}\t\t\\N\t\t\t\n")  # fmt: skip
                continue
            outcome = "bounced" if roll < 0.012 else "complained" if roll < 0.0125 else "delivered"
            deliveries.append(f"{delivery_id}\t{reader}\t{lesson_id}\t{version_id}\tsent\t{at}\t{k + 1}\t"
                              f"{k // 4 + 1}\t{at}\t{at}\t{at}\t1\t\t{outcome}\t{at}\t\t\t\n")  # fmt: skip
            if kind == Kind.CHECKIN and roll < 0.6:
                reply_id += 1
                status = "applied" if roll < 0.45 else "review" if roll < 0.47 else "ignored"
                replies.append(
                    f"{reply_id}\t{reader}\t{delivery_id}\t<{reply_id}@bench.example>\t{status}\t{at}"
                    "\t\t\t\t\t\t{}\t{}\t\t\tutf-8\n"
                )
        if len(deliveries) >= CHUNK_ROWS:
            _flush(connection, subscribers, deliveries, replies, events)
    _flush(connection, subscribers, deliveries, replies, events)
    print(f"generated and copied {readers:,} readers, {delivery_id:,} deliveries, {reply_id:,} replies "
          f"in {time.perf_counter() - start:.0f} s")  # fmt: skip
    start = time.perf_counter()
    for table in _TABLES:
        _restore(connection, table)
    with connection.cursor() as cursor:
        for table in _TABLES:
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
            cursor.execute(f"VACUUM ANALYZE {table}")
    print(f"rebuilt constraints and indexes, vacuumed and analysed in {time.perf_counter() - start:.0f} s")


_TABLES = ["subscribers_subscriber", "subscribers_delivery", "subscribers_reply", "subscribers_event"]
_COPY = {
    "subscribers_subscriber": "id, course_id, email, first_name, specialty, status, stage, destination, time_zone, "
    "send_hour, send_weekday, enrolled_at, paused_slots, created_at, updated_at, profession, license_plan, pay_need",
    "subscribers_delivery": "id, subscriber_id, lesson_id, version_id, state, due_at, course_week, course_month, "
    "created_at, claimed_at, sent_at, attempts, error, outcome, outcome_at, reason, message_id, provider_message_id",
    "subscribers_reply": "id, subscriber_id, delivery_id, message_id, status, received_at, sender, recipient, subject, "
    "raw, new_text, understood, applied, reason, esp, raw_encoding",
    "subscribers_event": "subscriber_id, what, at, why, actor",
}
_SAVED: dict[str, tuple[list[str], list[str]]] = {}


def _flush(connection, subscribers: list, deliveries: list, replies: list, events: list) -> None:
    """COPY what was generated into bare tables (constraints and indexes come back at the end)."""
    connection.ensure_connection()
    for table, rows in zip(_TABLES, (subscribers, deliveries, replies, events), strict=True):
        if table not in _SAVED:
            _strip(connection, table)
        with connection.connection.cursor() as cursor, cursor.copy(f"COPY {table} ({_COPY[table]}) FROM STDIN") as copy:
            copy.write("".join(rows))
        rows.clear()


def _strip(connection, table: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass "
            "AND contype <> 'p'", [table],
        )  # fmt: skip
        constraints = cursor.fetchall()
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s AND indexname NOT IN "
            "(SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass)", [table, table],
        )  # fmt: skip
        indexes = cursor.fetchall()
        for name, _ in constraints:
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
    _SAVED[table] = (
        [definition for _, definition in indexes],
        [f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}' for name, definition in constraints],
    )


def _restore(connection, table: str) -> None:
    indexes, constraints = _SAVED.pop(table)
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '512MB'")
        for statement in [*indexes, *constraints]:
            cursor.execute(statement)


def pages() -> None:
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from subscribers.models import Subscriber

    client = Client()
    client.force_login(User.objects.create_user("bench", is_staff=True, is_superuser=True))  # may see /ops/
    busy = Subscriber.objects.filter(status="active").order_by("-enrolled_at").values_list("pk", flat=True)[0]
    urls = [
        "/ops/",
        "/ops/?days=7",
        "/ops/?days=90",
        "/ops/?course=clinical-to-non-clinical",
        "/ops/readers/",
        "/ops/readers/?status=active&stage=searching&destination=payer",
        "/ops/readers/?q=reader4242",
        f"/ops/readers/{busy}/",
    ]
    print(f"{'page':<66} {'median ms':>9} {'max ms':>7} {'statements':>10}")
    for url in urls:
        times = []
        for _ in range(5):
            with CaptureQueriesContext(connection) as queries:
                start = time.perf_counter()
                response = client.get(url)
                times.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, (url, response.status_code)
        median = statistics.median(times)
        flag = "" if median <= TARGET_MS else f"  over the {TARGET_MS} ms target"
        print(f"{url:<66} {median:>9.0f} {max(times):>7.0f} {len(queries):>10}{flag}")
    for url in ("/ops/export/readers.csv", "/ops/export/deliveries.csv?since=" + _days_ago(30)):
        start = time.perf_counter()
        response = client.get(url)
        lines = sum(chunk.count(b"\n") for chunk in response.streaming_content) - 1
        seconds = time.perf_counter() - start
        print(f"{url:<66} {lines:,} rows in {seconds:.1f} s ({lines / seconds:,.0f} rows/s, streamed)")


def _days_ago(days: int) -> str:
    from django.utils import timezone

    return f"{timezone.now() - timedelta(days=days):%Y-%m-%d}"


if __name__ == "__main__":
    main()
