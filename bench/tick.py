"""Tick benchmark on PostgreSQL: how the drip tick scales with the number of due readers.

Prints, from one run: statements per 1,000 due readers (target <= 4 per batch, constant as N
grows), the time to plan and queue 100,000 due readers (target <= 15 s), the ratio of a bare
bulk_create of the same Delivery rows to the tick (target >= 0.5), the speed-up over a naive
per-reader loop (target >= 30x), and a realistic case: the same number of readers mid-course with
20-40 past deliveries each, mixed stages, destinations and profiles, 60% of whom told us their
stage (target: statements per 1,000 still constant and <= 5, time <= 20 s). About 13 minutes on
2 cores, most of it seeding the three million past deliveries through the rollup triggers. Sends
are queued to Redis when REDIS_URL is set (db 12 by default here), else counted in memory. Left
out: the sends themselves (bench/send.py) and readers whose emails are still in flight.

Run: .venv/bin/python bench/tick.py [--readers 100000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/12")

from bench.common import django_on_postgres


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=100_000)
    args = parser.parse_args()
    with django_on_postgres("pivotpath_bench_tick"):
        run(args.readers)


def seed(course, count: int, now) -> None:
    from subscribers.models import Subscriber

    start = time.perf_counter()
    for offset in range(0, count, 20_000):
        Subscriber.objects.bulk_create(
            [Subscriber(course=course, email=f"r{i}@bench.example", enrolled_at=now, next_send_at=now)
             for i in range(offset, min(count, offset + 20_000))],
            batch_size=5_000,
        )  # fmt: skip
    print(f"seeded {count:,} due readers in {time.perf_counter() - start:.1f} s")


def run(readers: int) -> None:
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from lessons.catalogue import Catalogue
    from lessons.importing import import_path
    from subscribers.models import Delivery, Subscriber
    from subscribers.sending import drip

    (report,) = import_path(Path(__file__).resolve().parent.parent / "lessons/content/clinical-to-non-clinical")
    course = report.course
    now = timezone.now()

    queued = _count_queued()

    # 1. Statements per batch of 1,000, at two sizes of the due population.
    for population in (2_000, 10_000):
        Subscriber.objects.all().delete()
        seed(course, population, now)
        with CaptureQueriesContext(connection) as queries:
            drip.tick(queue=False, batch_size=1_000, now=now)
        selects = [q for q in queries if q["sql"].split()[0] not in ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE")]
        per_batch = (len(selects) - 2 - 1) / (population / 1_000)  # minus catalogue (2) and the final empty batch
        print(f"statements per 1,000 due readers with {population:>6,} due: {per_batch:.1f}  (target <= 4)")

    # 2. The full run: plan and queue every due reader.
    Delivery.objects.all().delete()
    Subscriber.objects.all().delete()
    seed(course, readers, now)
    start = time.perf_counter()
    tick_report = drip.tick(batch_size=1_000, now=now)
    tick_seconds = time.perf_counter() - start
    print(f"tick: planned and queued {tick_report.planned:,} emails in {tick_seconds:.2f} s "
          f"({tick_report.planned / tick_seconds:,.0f}/s; target <= 15 s)  [{queued()} task messages]")  # fmt: skip

    # 3. The floor: bulk_create of the same rows, nothing else.
    rows = list(Delivery.objects.values("subscriber_id", "lesson_id", "version_id", "due_at", "course_week",
                                        "course_month", "created_at", "reason"))  # fmt: skip
    Delivery.objects.all().delete()
    start = time.perf_counter()
    for offset in range(0, len(rows), 1_000):
        with transaction.atomic():
            Delivery.objects.bulk_create([Delivery(**row) for row in rows[offset : offset + 1_000]])
    floor_seconds = time.perf_counter() - start
    print(f"bulk_create floor for the same {len(rows):,} rows: {floor_seconds:.2f} s; "
          f"floor / tick = {floor_seconds / tick_seconds:.2f}  (target >= 0.5)")  # fmt: skip

    # 4. A naive loop: one reader at a time, each with its own queries, save() and task.
    Delivery.objects.all().delete()
    Subscriber.objects.update(next_send_at=now)
    sample = 1_000
    from course import planner
    from subscribers.readers.course_time import reader_state
    from subscribers.tasks import send_deliveries

    catalogue = Catalogue.load()
    start = time.perf_counter()
    for subscriber in Subscriber.objects.filter(next_send_at__lte=now).order_by("pk")[:sample]:
        with transaction.atomic():
            subscriber = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
            history = [planner.Sent(d.lesson_id, d.lesson.kind, d.course_week, d.course_month)
                       for d in subscriber.deliveries.select_related("lesson")]  # fmt: skip
            choice = planner.next_email(reader_state(subscriber), catalogue.rules[course.pk],
                                        catalogue.lessons[course.pk], history, now)  # fmt: skip
            delivery = Delivery.objects.create(subscriber=subscriber, lesson_id=choice.lesson.id,
                                               version_id=catalogue.versions[choice.lesson.id], due_at=now)  # fmt: skip
            subscriber.next_send_at = None
            subscriber.save()
            transaction.on_commit(lambda d=delivery: send_deliveries.delay([d.pk]))
    naive_per_reader = (time.perf_counter() - start) / sample
    ours_per_reader = tick_seconds / tick_report.planned
    print(f"naive per-reader loop: {naive_per_reader * 1000:.2f} ms/reader (on {sample:,}); "
          f"tick: {ours_per_reader * 1000:.3f} ms/reader; speed-up {naive_per_reader / ours_per_reader:.0f}x "
          f"(target >= 30x)")  # fmt: skip
    _purge()

    # 5. Realistic: readers mid-course with a history, mixed stages, tracks and profiles.
    for population in (2_000, 10_000):
        seed_mid_course(course, population, now)
        connection.queries_log.clear()  # the log keeps 9,000 at most: start from empty
        with CaptureQueriesContext(connection) as queries:
            drip.tick(queue=False, batch_size=1_000, now=now)
        selects = [q for q in queries if q["sql"].split()[0] not in ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE")]
        per_batch = (len(selects) - 2 - 1) / (population / 1_000)
        print(f"mid-course: statements per 1,000 due readers with {population:>6,} due: {per_batch:.1f}  (target <= 5)")
    history = seed_mid_course(course, readers, now)
    start = time.perf_counter()
    mid_report = drip.tick(batch_size=1_000, now=now)
    mid_seconds = time.perf_counter() - start
    print(f"mid-course tick: {readers:,} due readers with {history:,} past deliveries: planned and queued "
          f"{mid_report.planned:,} emails ({mid_report.idle:,} with nothing due, {mid_report.finished:,} finished) "
          f"in {mid_seconds:.2f} s (target <= 20 s)  [{queued()} task messages]")  # fmt: skip
    _purge()


def _defaults_for_the_rest(model, listed: str) -> tuple[str, str]:
    """The model's other required columns with their defaults, so a new field does not break the COPY."""
    import json

    named = {name.strip() for name in listed.split(",")}
    rest = [f for f in model._meta.concrete_fields if f.column not in named and not f.null and f.has_default()]

    def text(value) -> str:
        if isinstance(value, bool):
            return "t" if value else "f"
        return json.dumps(value) if isinstance(value, (dict, list)) else str(value)

    return "".join(f", {f.column}" for f in rest), "".join(f"\t{text(f.get_default())}" for f in rest)


def seed_mid_course(course, count: int, now) -> int:
    """`count` due readers 20-40 weeks into the course, each with that many past deliveries (COPY)."""
    import random

    from django.db import connection

    from course.vocabulary import Destination, LicensePlan, PayNeed, Profession, Stage
    from lessons.catalogue import Catalogue
    from subscribers.models import Delivery, Subscriber

    Delivery.objects.all().delete()
    Subscriber.objects.all().delete()
    rng = random.Random(14)
    catalogue = Catalogue.load()
    lessons = [lesson for lesson in catalogue.lessons[course.pk] if lesson.kind != "completion"]
    welcome = next(lesson for lesson in lessons if lesson.kind == "welcome")
    others = [lesson for lesson in lessons if lesson is not welcome]
    start = time.perf_counter()
    readers, deliveries, delivery_id = [], [], 0
    for number in range(1, count + 1):
        weeks = rng.randint(20, 40)
        enrolled = now - timedelta(weeks=weeks, hours=1)
        told = rng.random() < 0.6
        reported = (enrolled + timedelta(weeks=rng.randint(1, weeks))).isoformat() if told else "\\N"
        stage = rng.choice([Stage.CONVERSATIONS, Stage.SEARCHING, Stage.SEARCHING, Stage.INTERVIEWING, Stage.LANDED])
        readers.append(
            f"{number}\t{course.pk}\tr{number}@bench.example\tReader\t\tactive\t{stage}\t"
            f"{rng.choice(Destination.values)}\t{rng.choice(Profession.values)}\t{rng.choice(LicensePlan.values)}\t"
            f"{rng.choice(PayNeed.values)}\t{reported}\tAmerica/Chicago\t8\t{enrolled.weekday()}\t"
            f"{enrolled.isoformat()}\t0\t{now.isoformat()}\t{now.isoformat()}\t{now.isoformat()}\n"
        )  # fmt: skip
        for week, lesson in enumerate([welcome, *rng.sample(others, weeks - 1)]):
            delivery_id += 1
            sent = (enrolled + timedelta(weeks=week)).isoformat()
            deliveries.append(f"{delivery_id}\t{number}\t{lesson.id}\t{catalogue.versions[lesson.id]}\tsent\t"
                              f"{sent}\t{week}\t{1 + week * 7 // 30}\t{sent}\t{sent}\t1\t\t\t\t\t\n")  # fmt: skip
    columns = {
        Subscriber._meta.db_table: "id, course_id, email, first_name, specialty, status, stage, destination, "
        "profession, license_plan, pay_need, stage_reported_at, time_zone, send_hour, send_weekday, enrolled_at, "
        "paused_slots, next_send_at, created_at, updated_at",
        Delivery._meta.db_table: "id, subscriber_id, lesson_id, version_id, state, due_at, course_week, course_month, "
        "created_at, sent_at, attempts, error, reason, message_id, provider_message_id, outcome",
    }
    with connection.cursor() as cursor:
        for model, rows in ((Subscriber, readers), (Delivery, deliveries)):
            table = model._meta.db_table
            more, values = _defaults_for_the_rest(model, columns[table])
            with (
                cursor.connection.cursor() as raw,
                raw.copy(f"COPY {table} ({columns[table]}{more}) FROM STDIN") as copy,
            ):
                for offset in range(0, len(rows), 50_000):
                    copy.write("".join(row[:-1] + values + "\n" for row in rows[offset : offset + 50_000]))
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
            cursor.execute(f"ANALYZE {table}")
    print(f"seeded {count:,} mid-course readers and {delivery_id:,} past deliveries by COPY in "
          f"{time.perf_counter() - start:.1f} s")  # fmt: skip
    return delivery_id


def _count_queued():
    from django.conf import settings

    from config.celery import app

    _purge()
    if not settings.REDIS_URL:
        return lambda: "no broker"

    def count() -> str:
        with app.connection_for_write() as conn:
            return f"{conn.default_channel.client.llen('celery'):,}"

    return count


def _purge() -> None:
    from django.conf import settings

    from config.celery import app

    if settings.REDIS_URL:
        with app.connection_for_write() as conn:
            conn.default_channel.client.flushdb()


if __name__ == "__main__":
    main()
