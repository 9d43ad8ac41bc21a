"""The tick's cost does not grow with the number of readers in a batch."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from subscribers import arrays
from subscribers.models import Delivery, Subscriber
from subscribers.sending import drip


def due_readers(course, count: int, start: int = 0) -> None:
    now = timezone.now()
    Subscriber.objects.bulk_create(
        Subscriber(course=course, email=f"r{start + i}@example.com", enrolled_at=now, next_send_at=now)
        for i in range(count)
    )


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite splits bulk statements by its variable limit")
def test_a_batch_takes_the_same_statements_for_1000_and_10000_due_readers(course):
    counts = {}
    for size in (1_000, 10_000):
        Subscriber.objects.all().delete()
        due_readers(course, size)
        with CaptureQueriesContext(connection) as queries:
            report = drip.tick(queue=False, batch_size=size)
        assert report.planned == size
        counts[size] = len(queries)
        # The array statements (subscribers.arrays) are logged and counted like the ORM's own.
        assert any(q["sql"].startswith("INSERT INTO subscribers_delivery") for q in queries)
    assert counts[1_000] == counts[10_000]
    assert counts[1_000] <= 12  # catalogue (2) + one batch (4) + the empty last batch (1) + savepoints


@pytest.mark.skipif(connection.vendor != "postgresql", reason="array statements are PostgreSQL's")
def test_array_statements_send_integers_as_bigint_like_the_key_columns(db):
    with arrays.binary_cursor() as cursor:
        cursor.execute("SELECT pg_typeof(%s)::text, pg_typeof(%b)::text", [6000, [1, 2, 3]])
        assert cursor.fetchone() == ("bigint", "bigint[]")


def test_statements_grow_with_batches_not_with_readers(course):
    due_readers(course, 30)
    with CaptureQueriesContext(connection) as few_batches:
        drip.tick(queue=False, batch_size=10)
    per_batch = len(few_batches)
    Subscriber.objects.all().delete()
    due_readers(course, 90)
    with CaptureQueriesContext(connection) as more_readers:
        drip.tick(queue=False, batch_size=30)
    assert len(more_readers) == per_batch  # three batches either way
    assert Delivery.objects.count() == 90


def test_sends_are_queued_in_chunks_after_the_batch_commits(transactional_db, course, monkeypatch):
    queued: list[list[int]] = []
    monkeypatch.setattr(
        "subscribers.tasks.send_deliveries.apply_async", lambda args, kwargs=None, **options: queued.append(args[0])
    )
    due_readers(course, 250)
    report = drip.tick(batch_size=500)
    assert [len(chunk) for chunk in queued] == [100, 100, 50]
    assert sorted(i for chunk in queued for i in chunk) == sorted(report.delivery_ids)
