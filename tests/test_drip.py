"""Tick and send in-process: scheduling, DST, races, crash recovery and failures."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
import time_machine
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection, transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from course.schedule import Timing, next_slot, zone
from subscribers.models import Delivery, Event, Subscriber
from subscribers.sending import drip
from tests.conftest import enrol, outbox_to


def run_week(traveller, subscriber: Subscriber) -> list[Delivery]:
    """Travel to the reader's next send time, tick, and send what was planned."""
    subscriber.refresh_from_db()
    traveller.move_to(subscriber.next_send_at)
    report = drip.tick(queue=False)
    for delivery_id in report.delivery_ids:
        assert drip.send_delivery(delivery_id) == "sent"
    return list(Delivery.objects.filter(pk__in=report.delivery_ids))


def test_it_plans_the_welcome_now_and_lessons_weekly_after(alice):
    report = drip.tick(queue=False)
    assert report.planned == 1
    assert drip.send_delivery(report.delivery_ids[0]) == "sent"

    (welcome,) = outbox_to("alice@example.com")
    assert welcome.subject == "Welcome, Alice"
    alice.refresh_from_db()
    local = alice.next_send_at.astimezone(zone("America/New_York"))
    assert (local.hour, local.minute) == (8, 0)
    assert alice.next_send_at - timezone.now() > timedelta(days=6)
    assert drip.tick(queue=False).planned == 0  # nothing more this week


def test_it_sends_the_track_lesson_only_to_readers_on_that_track(alice, bob):
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        for _ in range(3):
            run_week(traveller, alice)
            run_week(traveller, bob)
    alice_subjects = [m.subject for m in outbox_to("alice@example.com")][:3]
    bob_subjects = [m.subject for m in outbox_to("bob@example.com")][:3]
    assert alice_subjects == ["Welcome, Alice", "Only for the payer track", "Lesson 1"]
    assert bob_subjects == ["Welcome, Bob", "Lesson 1", "Lesson 2"]


@pytest.mark.parametrize(
    "tz, start, changes",
    [
        ("America/New_York", datetime(2026, 2, 23, 15, tzinfo=UTC), "2026-03-08"),
        ("America/New_York", datetime(2026, 10, 12, 15, tzinfo=UTC), "2026-11-01"),
        ("Europe/London", datetime(2026, 3, 9, 10, tzinfo=UTC), "2026-03-29"),
        ("Europe/London", datetime(2026, 10, 5, 10, tzinfo=UTC), "2026-10-25"),
    ],
)
def test_lessons_keep_arriving_at_the_readers_local_hour_across_dst(course, tz, start, changes):
    with time_machine.travel(start, tick=False) as traveller:
        reader = enrol(course, "dst@example.com", first_name="Dee", time_zone=tz, send_hour=8)
        sends = [run_week(traveller, reader)[0] for _ in range(7)]
    lessons = sends[1:]  # the welcome goes out at enrolment time
    local_times = [d.sent_at.astimezone(zone(tz)) for d in lessons]
    assert {(t.hour, t.minute) for t in local_times} == {(8, 0)}
    assert all((b.date() - a.date()).days == 7 for a, b in pairwise(local_times))
    assert local_times[0].date().isoformat() < changes < local_times[-1].date().isoformat()
    offsets = {t.utcoffset() for t in local_times}
    assert len(offsets) == 2, "the run crosses the DST change"


def test_a_tick_while_the_broker_is_down_plans_every_batch_and_the_next_tick_queues_them(
    alice, bob, django_capture_on_commit_callbacks, monkeypatch
):
    from kombu.exceptions import OperationalError

    from subscribers.tasks import send_deliveries

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(send_deliveries, "apply_async", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        report = drip.tick(batch_size=1)

    assert (report.planned, report.batches) == (2, 2)
    assert set(Delivery.objects.values_list("state", flat=True)) == {"pending"}
    queued = []
    monkeypatch.setattr(send_deliveries, "apply_async", lambda args, kwargs=None, **options: queued.append(args[0]))
    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        assert drip.tick().requeued == 2
    assert sorted(id for chunk in queued for id in chunk) == sorted(report.delivery_ids)


def test_two_racing_ticks_plan_each_reader_exactly_once(transactional_db, course):
    for i in range(60):
        enrol(course, f"reader{i}@example.com")
    barrier = threading.Barrier(2)

    def racing_tick(_):
        barrier.wait()
        try:
            return drip.tick(queue=False, batch_size=7)
        finally:
            connection.close()

    with ThreadPoolExecutor(2) as pool:
        reports = list(pool.map(racing_tick, range(2)))

    assert sum(report.planned for report in reports) == 60
    assert Delivery.objects.count() == 60
    assert Delivery.objects.values("subscriber").distinct().count() == 60


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks are a PostgreSQL feature")
def test_a_tick_skips_readers_another_tick_has_locked(transactional_db, course):
    alice = enrol(course, "alice@example.com")
    enrol(course, "bob@example.com")
    locked, release = threading.Event(), threading.Event()

    def other_tick_holding_alice():
        with transaction.atomic():
            list(Subscriber.objects.select_for_update().filter(pk=alice.pk))
            locked.set()
            release.wait(10)
        connection.close()

    holder = threading.Thread(target=other_tick_holding_alice)
    holder.start()
    locked.wait(10)
    report = drip.tick(queue=False)
    release.set()
    holder.join()

    assert report.planned == 1
    assert list(Delivery.objects.values_list("subscriber__email", flat=True)) == ["bob@example.com"]


def test_a_delivery_stuck_in_sending_is_claimed_again_only_after_the_stale_limit(alice, settings):
    report = drip.tick(queue=False)
    (delivery_id,) = report.delivery_ids
    now = timezone.now()
    assert drip.claim(delivery_id, now)  # a worker claims it, then dies
    assert not drip.claim(delivery_id, now + timedelta(seconds=settings.DRIP_STALE_SENDING_SECONDS - 1))
    later = now + timedelta(seconds=settings.DRIP_STALE_SENDING_SECONDS + 1)
    assert drip.send_delivery(delivery_id, now=later) == "sent"
    assert drip.send_delivery(delivery_id, now=later).startswith("skipped")
    assert len(outbox_to("alice@example.com")) == 1


def test_a_pending_delivery_whose_task_was_lost_is_found_by_a_later_tick(alice):
    drip.tick(queue=False)  # planned, but its task message never reached a worker
    assert drip.recover_stale(timezone.now()) == 0
    assert drip.recover_stale(timezone.now() + timedelta(minutes=10)) == 1


class FailingBackend(BaseEmailBackend):
    def send_messages(self, email_messages):
        raise ConnectionError("the ESP is unreachable")


def test_a_failing_send_is_retried_with_backoff_then_failed_with_the_reason(alice, settings):
    settings.EMAIL_BACKEND = "tests.test_drip.FailingBackend"
    (delivery_id,) = drip.tick(queue=False).delivery_ids
    now, outcomes, waits = timezone.now(), [], []
    for _ in range(drip.MAX_SEND_ATTEMPTS):
        outcomes.append(drip.send_delivery(delivery_id, now=now))
        retry_at = Delivery.objects.get(pk=delivery_id).retry_at
        if retry_at is None:
            break
        assert drip.send_delivery(delivery_id, now=retry_at - timedelta(seconds=1)).startswith("skipped")
        waits.append((retry_at - now).total_seconds())
        now = retry_at

    assert all(outcome.startswith("failed (will retry in") for outcome in outcomes[:-1])
    assert outcomes[-1].startswith("failed (final)")
    assert len(outcomes) == drip.MAX_SEND_ATTEMPTS
    assert 15 <= waits[0] <= 30 and waits[-1] <= drip.RETRY_MAX_SECONDS, "seconds to minutes, never days"
    delivery = Delivery.objects.get(pk=delivery_id)
    assert delivery.state == Delivery.State.FAILED
    assert "the ESP is unreachable" in delivery.error
    assert Event.objects.filter(subscriber=alice, what="delivery_failed").exists()
    alice.refresh_from_db()
    assert alice.next_send_at is not None  # the course goes on next week


def test_a_reader_who_stops_before_the_send_gets_nothing(alice):
    (delivery_id,) = drip.tick(queue=False).delivery_ids
    Subscriber.objects.filter(pk=alice.pk).update(status=Subscriber.Status.UNSUBSCRIBED)

    assert drip.send_delivery(delivery_id).startswith("cancelled")
    assert outbox_to("alice@example.com") == []
    assert not Delivery.objects.filter(pk=delivery_id).exists()


def test_the_completion_email_ends_the_course(course):
    with time_machine.travel(datetime(2026, 1, 5, 14, tzinfo=UTC), tick=False) as traveller:
        reader = enrol(course, "finisher@example.com", first_name="Fin")
        for _ in range(20):
            reader.refresh_from_db()
            if reader.status != Subscriber.Status.ACTIVE:
                break
            run_week(traveller, reader)
    reader.refresh_from_db()
    subjects = [m.subject for m in outbox_to("finisher@example.com")]
    assert reader.status == Subscriber.Status.COMPLETED
    assert subjects[-1] == "You finished the course"
    assert len(subjects) == len(set(subjects)), "no lesson is sent twice"
    assert Event.objects.filter(subscriber=reader, what="status_changed", after="completed").exists()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    gaps=st.lists(st.integers(min_value=1, max_value=60 * 24 * 9), min_size=5, max_size=30),
    tz=st.sampled_from(["America/New_York", "Europe/London", "Asia/Tokyo"]),
    hour=st.integers(0, 23),
)
def test_ticks_at_random_times_never_send_two_course_emails_in_one_slot(course, gaps, tz, hour):
    """Ticks at arbitrary moments (late, early, bunched, after an outage): one email per slot at
    most, nothing repeated, and every scheduled send at the reader's local hour."""
    Subscriber.objects.all().delete()
    start = datetime(2026, 3, 2, 9, 17, tzinfo=UTC)
    with time_machine.travel(start, tick=False) as traveller:
        reader = enrol(course, "prop@example.com", time_zone=tz, send_hour=hour)
        now = start
        for minutes in gaps:
            now += timedelta(minutes=minutes)
            traveller.move_to(now)
            for delivery_id in drip.tick(queue=False).delivery_ids:
                drip.send_delivery(delivery_id)
            reader.refresh_from_db()
            if reader.next_send_at is not None:
                assert reader.next_send_at > now
                local = reader.next_send_at.astimezone(zone(tz))
                assert local.hour in (hour, (hour + 1) % 24) and local.minute == 0
    sent = sorted(Delivery.objects.filter(subscriber=reader).values_list("sent_at", flat=True))
    assert all(b - a >= timedelta(hours=12) for a, b in pairwise(sent))
    slots, at = [], start
    while at < now + timedelta(days=8):
        at = next_slot(at, Timing(tz, reader.send_weekday, hour))
        slots.append(at)
    per_slot = [sum(1 for slot in slots if slot <= t) for t in sent]
    assert len(per_slot) == len(set(per_slot)), "two emails in one weekly slot"
    lessons = list(Delivery.objects.filter(subscriber=reader).values_list("lesson_id", flat=True))
    assert len(lessons) == len(set(lessons))
