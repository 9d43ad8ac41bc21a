"""Drill 4, webhook storms: the same webhooks many times, at once and out of order, against gunicorn.

- Stripe: every paid checkout 10x concurrently with the same event id, then replayed later with
  a fresh signature, then a second event about the same payment; for some payments the refund
  arrives (10x) before the completion (10x).
- Inbound: every reader's check-in reply 10x concurrently with the same Message-ID, processed
  by a real Celery worker.
- Tracking: the kinds listed in drills.webhooks.TRACKING, 10x each (none routed yet).

Expected: exactly-once effects: one enrolment per paid checkout and none after a refund, one
stored reply, one stage change and one confirmation per reader; 0 responses with status 500.

    .venv/bin/python drills/webhook_storms.py
"""

from __future__ import annotations

import random
import sys
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from drills import harness, webhooks

PAID = 30
REFUNDED_FIRST = 10
REPLIERS = 20
COPIES = 10


def drill(stack: ExitStack, row: harness.Row) -> None:
    folder = harness.workdir(stack, "storms")
    redis = harness.RedisServer(stack, folder)
    env = harness.product_env(harness.throwaway_database(stack, "storms"), redis.url, folder)
    harness.setup_django(env)
    from course.models import Course
    from lessons.models import Lesson
    from subscribers.models import (
        Delivery,
        Event,
        OutboxMessage,
        Payment,
        Reply,
        Signup,
        StripeEvent,
        Subscriber,
        TrackingEvent,
    )  # fmt: skip
    from subscribers.readers.addresses import reply_address
    from subscribers.readers.enrolment import Intake, enroll
    from subscribers.sending import drip

    course = Course.objects.get(slug="clinical-to-non-clinical")
    signups = [
        Signup.objects.create(
            course=course,
            email=f"payer{n}@drill.example",
            first_name=f"P{n}",
            time_zone="UTC",
            send_hour=8,
            destination="payer",
        )
        for n in range(PAID + REFUNDED_FIRST)
    ]
    checkin = Lesson.objects.filter(course=course, kind="checkin").order_by("month", "order").first()
    readers = []
    for n in range(REPLIERS):
        reader = enroll(course, Intake(email=f"replier{n}@drill.example", first_name=f"R{n}"), actor="drill", why="d")
        delivery = Delivery.objects.create(subscriber=reader, lesson=checkin, version=checkin.current_version,
                                           due_at=reader.enrolled_at)  # fmt: skip
        assert drip.send_delivery(delivery.pk) == "sent"
        readers.append((reader, delivery))

    _web, base = harness.gunicorn(stack, env, folder)
    worker = harness.celery_worker(stack, "worker", env, folder)
    harness.wait_ready(worker)

    # Stripe: concurrent copies, out-of-order refunds first, all shuffled together.
    storm = []
    for n, signup in enumerate(signups):
        paid = webhooks.paid_event(str(signup.reference), n)
        if n >= PAID:
            storm += [webhooks.signed(webhooks.refund_event(n)) for _ in range(COPIES)]
        storm += [webhooks.signed(paid) for _ in range(COPIES)]
    refunds_first = [r for r in storm if b"charge.refunded" in r.body]
    rest = [r for r in storm if b"charge.refunded" not in r.body]
    random.Random(9).shuffle(rest)
    fired = [webhooks.fire(base, refunds_first, concurrency=50), webhooks.fire(base, rest, concurrency=50)]
    # Replays minutes later (fresh signatures), and another event about the same payments.
    replays = [webhooks.signed(webhooks.paid_event(str(s.reference), n)) for n, s in enumerate(signups)]
    again = []
    for n, signup in enumerate(signups):
        event = webhooks.paid_event(str(signup.reference), n, event_id=f"evt_drill_async_{n}")
        event["type"] = "checkout.session.async_payment_succeeded"
        again.append(webhooks.signed(event))
    fired.append(webhooks.fire(base, replays + again, concurrency=50))

    # Inbound: each reply 10x at once, same Message-ID.
    replies = []
    for reader, delivery in readers:
        raw = webhooks.reply_mime(reader.email, reply_address(reader.pk, delivery.pk), "I'm a 3 now")
        replies += [webhooks.inbound(raw)] * COPIES
    random.Random(4).shuffle(replies)
    fired.append(webhooks.fire(base, replies, concurrency=50))

    # Tracking: each kind 10x at once (same event id) for one delivery.
    tracked_reader = enroll(course, Intake(email="tracked@drill.example"), actor="drill", why="d")
    tracked = Delivery.objects.create(subscriber=tracked_reader, lesson=checkin, version=checkin.current_version,
                                      due_at=tracked_reader.enrolled_at)  # fmt: skip
    assert drip.send_delivery(tracked.pk) == "sent"
    tracked.refresh_from_db()
    tracking = [build(tracked.message_id, tracked_reader.email) for build in webhooks.TRACKING.values()]
    fired.append(webhooks.fire(base, [r for r in tracking for _ in range(COPIES)], concurrency=50))

    harness.wait_for(lambda: not Reply.objects.filter(status=Reply.Status.RECEIVED).exists(),
                     what="the worker to process the replies", seconds=60)  # fmt: skip
    time.sleep(1)  # confirmations are sent right after processing

    outcomes = [o for f in fired for o in f.outcomes]
    errors_500 = sum(1 for o in outcomes if o.status == 500)
    not_ok = [o for o in outcomes if o.status != 200]
    enrolments = Event.objects.filter(what="enrolled", actor="stripe")
    enrolled = Counter(enrolments.values_list("subscriber__email", flat=True))
    paid_emails = {s.email for s in signups[:PAID]}
    refunded_emails = {s.email for s in signups[PAID:]}
    lost = len(paid_emails - set(enrolled))
    wrongly_enrolled = len(refunded_emails & set(Subscriber.objects.values_list("email", flat=True)))
    stage_changes = Counter(Event.objects.filter(what="stage_changed").values_list("subscriber__email", flat=True))
    confirmations = Counter(
        OutboxMessage.objects.filter(subject__startswith="Re: ").values_list("recipient", flat=True)
    )
    lost += sum(1 for reader, _ in readers if stage_changes[reader.email] == 0)
    lost += REPLIERS - Reply.objects.count()
    duplicates = sum(c - 1 for c in enrolled.values() if c > 1) + sum(c - 1 for c in stage_changes.values() if c > 1)
    duplicates += sum(c - 1 for c in confirmations.values() if c > 1) + max(0, Reply.objects.count() - REPLIERS)
    tracking_events = TrackingEvent.objects.count()
    suppressions = Event.objects.filter(subscriber=tracked_reader, what="status_changed", after="suppressed").count()
    lost += max(0, len(webhooks.TRACKING) - tracking_events) + (0 if suppressions else 1)
    duplicates += max(0, tracking_events - len(webhooks.TRACKING)) + max(0, suppressions - 1)
    distinct_events = 2 * (PAID + REFUNDED_FIRST) + REFUNDED_FIRST
    row.done = f"{len(outcomes)} webhooks: Stripe x{COPIES}/replayed/refund-first, inbound and tracking x{COPIES}"
    row.expected = "each effect exactly once"
    row.lost, row.duplicates, row.errors_500 = lost, duplicates, errors_500
    row.notes += [
        f"{len(enrolled)} enrolled of {PAID} paid; {wrongly_enrolled} enrolled after a refund came first "
        f"({Payment.objects.filter(status='refunded').count()} payments refunded)",
        f"{StripeEvent.objects.count()} Stripe events stored (of {distinct_events} distinct ids)",
        f"{Reply.objects.count()} replies stored, {sum(stage_changes.values())} stage changes, "
        f"{sum(confirmations.values())} confirmations",
        f"non-200 answers: {len(not_ok)} {Counter(o.status for o in not_ok)}",
        f"tracking: {tracking_events} events stored of {len(webhooks.TRACKING)} ({', '.join(webhooks.TRACKING)}), "
        f"{suppressions} suppression",
    ]
    if not_ok:
        row.notes.append(f"first non-200: {not_ok[0].status} {not_ok[0].text[:200]}")
    row.passed = (lost == 0 and duplicates == 0 and errors_500 == 0 and not not_ok and wrongly_enrolled == 0
                  and StripeEvent.objects.count() == distinct_events)  # fmt: skip


if __name__ == "__main__":
    harness.run("webhook-storms", drill)
