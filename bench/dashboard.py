"""Operator pages on PostgreSQL at scale: 100,000 readers and 5,000,000 deliveries, and
1,000,000 readers and 20,000,000 deliveries (--both).

Seeds a throwaway database with COPY (psycopg's `cursor.copy`; constraints, indexes and the
rollup's triggers off during the load and back after), builds the dashboard's daily rollup from
it (`rollup.rebuild()`, as `manage.py rebuild_daily_figures` does), then renders each /ops/ page
as a staff user and prints its median render time (target <= 300 ms) and statement count, what
the rollup's triggers cost when 10,000 sends are recorded, one fold, and how fast the CSV exports
stream. --both prints both sizes side by side with the ratios at the end.

Each reader has 50 (or --per-reader) weekly emails ending somewhere in the last two years (so
about half are in the course now), a reply to 60% of their check-ins, and audit rows.

Left out (say so when quoting the figures): concurrent requests and the web server (pages are
rendered in-process by Django's test client, after one warm-up request each, so the database
cache is warm); the browser's own rendering; the metrics endpoint (it reads the source tables);
the timeline's thread of conversation messages (none are seeded); a rollup with unfolded rows
(pages are timed after a fold, as beat leaves it; unfolded rows are summed the same way).

Run: .venv/bin/python bench/dashboard.py [--readers 100000] [--per-reader 50]
     .venv/bin/python bench/dashboard.py --both    # 100,000 x 50, then 1,000,000 x 20 (20,000,000 deliveries)
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import django_on_postgres

TARGET_MS = 300
CHUNK_ROWS = 100_000
SENDS = 10_000  # recorded with and without the rollup's triggers
FAILURE = "SMTPServerDisconnected: Connection unexpectedly closed"
# (readers, deliveries per reader) for --both: the everyday size and a large one.
SIZES = ((100_000, 50), (1_000_000, 20))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=100_000)
    parser.add_argument("--per-reader", type=int, default=50, help="deliveries per reader")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards (to EXPLAIN queries)")
    parser.add_argument("--both", action="store_true", help=f"run at each of SIZES, one process each: {SIZES}")
    parser.add_argument("--json", type=Path, help=argparse.SUPPRESS)  # where a --both child leaves its figures
    args = parser.parse_args()
    if args.both:
        results = []
        with tempfile.TemporaryDirectory() as folder:
            for readers, per_reader in SIZES:
                print(f"\n=== {readers:,} readers, {readers * per_reader:,} deliveries ===", flush=True)
                out = Path(folder) / f"{readers}.json"
                subprocess.run([sys.executable, __file__, f"--readers={readers}", f"--per-reader={per_reader}",
                                f"--json={out}"], check=True)  # fmt: skip
                results.append(json.loads(out.read_text()))
        compare(results)
        return
    with django_on_postgres("pivotpath_bench_dashboard", keep=args.keep):
        started = time.perf_counter()
        began = time.perf_counter()
        seed(args.readers, args.per_reader)
        figures: dict = {"readers": args.readers, "deliveries": args.readers * args.per_reader,
                         "seed_s": round(time.perf_counter() - began)}  # fmt: skip
        print(f"seeded {args.readers:,} readers and {args.readers * args.per_reader:,} deliveries in "
              f"{figures['seed_s']} s", flush=True)  # fmt: skip
        figures["rebuild_s"] = build_rollup()
        figures["sends"] = record_sends()
        figures["pages"] = pages()
        figures["run_s"] = round(time.perf_counter() - started)
        print(f"whole run {figures['run_s']} s")
        if args.json:
            args.json.write_text(json.dumps(figures))


def compare(results: list[dict]) -> None:
    """Both sizes side by side: each page's median and statements, and large / small."""
    small, large = results
    print(f"\n=== both sizes: {small['readers']:,} / {small['deliveries']:,} and "
          f"{large['readers']:,} / {large['deliveries']:,} (readers / deliveries) ===")  # fmt: skip
    print(f"{'page':<58} {'small ms':>8} {'large ms':>8} {'large/small':>11} {'statements':>11} {'target':>7}")
    worst = 0.0
    for url, one in small["pages"].items():
        other = large["pages"][url]
        worst = max(worst, one["median_ms"], other["median_ms"])
        statements = f"{one['statements']}/{other['statements']}"
        ok = "ok" if max(one["median_ms"], other["median_ms"]) <= TARGET_MS else "OVER"
        print(f"{url:<58} {one['median_ms']:>8.0f} {other['median_ms']:>8.0f} "
              f"{other['median_ms'] / one['median_ms']:>10.2f}x {statements:>11} {ok:>7}")  # fmt: skip
    same = all(small["pages"][url]["statements"] == large["pages"][url]["statements"] for url in small["pages"])
    print(f"slowest page median {worst:.0f} ms of the {TARGET_MS} ms target ({worst / TARGET_MS:.2f} of it); "
          f"statement counts {'the same' if same else 'DIFFERENT'} at both sizes")  # fmt: skip
    for result in results:
        sends = result["sends"]
        print(f"{result['readers']:>9,} readers: seed {result['seed_s']} s, rollup rebuilt in {result['rebuild_s']} s; "
              f"{SENDS:,} sends recorded in {sends['with_ms']:.0f} ms with the triggers, "
              f"{sends['without_ms']:.0f} ms without ({sends['with_ms'] / sends['without_ms']:.2f}x), "
              f"folded in {sends['fold_ms']:.0f} ms")  # fmt: skip


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
                           f"0\t{now.isoformat()}\t{now.isoformat()}\t\tunsure\tunsure\t0\n")  # fmt: skip
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
    "send_hour, send_weekday, enrolled_at, paused_slots, created_at, updated_at, profession, license_plan, pay_need, "
    "link_generation",
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
        cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")  # the rollup is built once, after
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
        cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")


def build_rollup() -> int:
    from django.db import connection

    from subscribers.ops import rollup

    start = time.perf_counter()
    rows = rollup.rebuild()
    with connection.cursor() as cursor:
        for table in rollup.TABLES:
            cursor.execute(f"VACUUM ANALYZE {table.model._meta.db_table}")
    seconds = round(time.perf_counter() - start)
    print(f"built the daily rollup in {seconds} s: " + ", ".join(f"{name} {n:,} rows" for name, n in rows.items()))
    return seconds


def record_sends() -> dict[str, float]:
    """What the rollup's triggers add to the send path: SENDS planned deliveries of the next lesson
    recorded as sent in one UPDATE (as a send chunk does, 100 at a time, here all at once), with
    the triggers and without (each in a transaction rolled back), and the fold of what they added."""
    from django.db import connection, transaction
    from django.utils import timezone

    from lessons.models import Lesson
    from subscribers.models import Delivery, Subscriber
    from subscribers.ops import rollup

    readers = list(Subscriber.objects.order_by("pk").values_list("pk", flat=True)[:SENDS])
    had = Delivery.objects.filter(subscriber_id=readers[0]).values("lesson_id")  # every reader has the same lessons
    lesson = Lesson.objects.filter(course__slug="clinical-to-non-clinical").exclude(pk__in=had).order_by("pk").first()
    figures = {}
    for label, triggers in (("with", True), ("without", False)):
        with transaction.atomic():
            with connection.cursor() as cursor:
                if not triggers:
                    cursor.execute("ALTER TABLE subscribers_delivery DISABLE TRIGGER USER")
                cursor.execute(
                    "INSERT INTO subscribers_delivery (subscriber_id, lesson_id, version_id, state, due_at, "
                    "course_week, course_month, created_at, attempts, error, outcome, reason, message_id, "
                    "provider_message_id) SELECT id, %s, %s, 'pending', now(), 1, 1, now(), 0, '', '', '', '', '' "
                    "FROM unnest(%s::bigint[]) id",
                    [lesson.pk, lesson.current_version_id, readers],
                )  # fmt: skip
                start = time.perf_counter()
                cursor.execute(
                    "UPDATE subscribers_delivery SET state = 'sent', sent_at = %s, attempts = 1 WHERE lesson_id = %s "
                    "AND state = 'pending'", [timezone.now(), lesson.pk],
                )  # fmt: skip
                figures[f"{label}_ms"] = (time.perf_counter() - start) * 1000
            if triggers:
                start = time.perf_counter()
                rollup.fold()
                figures["fold_ms"] = (time.perf_counter() - start) * 1000
            transaction.set_rollback(True)
    print(f"{SENDS:,} sends recorded in {figures['with_ms']:.0f} ms with the rollup's triggers, "
          f"{figures['without_ms']:.0f} ms without; their fold {figures['fold_ms']:.0f} ms")  # fmt: skip
    return figures


def pages() -> dict[str, dict]:
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
    results = {}
    for url in urls:
        client.get(url)  # warm-up, not counted
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
        results["/ops/readers/<id>/" if url == f"/ops/readers/{busy}/" else url] = {
            "median_ms": round(median, 1), "max_ms": round(max(times), 1), "statements": len(queries)}  # fmt: skip
    for url in ("/ops/export/readers.csv", "/ops/export/deliveries.csv?since=" + _days_ago(30)):
        start = time.perf_counter()
        response = client.get(url)
        lines = sum(chunk.count(b"\n") for chunk in response.streaming_content) - 1
        seconds = time.perf_counter() - start
        print(f"{url:<66} {lines:,} rows in {seconds:.1f} s ({lines / seconds:,.0f} rows/s, streamed)")
    return results


def _days_ago(days: int) -> str:
    from django.utils import timezone

    return f"{timezone.now() - timedelta(days=days):%Y-%m-%d}"


if __name__ == "__main__":
    main()
