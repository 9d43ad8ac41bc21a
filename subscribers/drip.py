"""The drip: tick (plan what is due), claim, send (flows 2 and 3).

The tick, the Celery tasks, `manage.py tick` and the tests all call these functions. Work is
claimed in the database, never in the broker: a lost task message or a dead worker is
found again by `recover_stale()` on a later tick.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from course import planner, preview
from course.schedule import next_weekly_slot
from course.vocabulary import Kind
from lessons.catalogue import Catalogue
from subscribers import audit, emails
from subscribers.models import Delivery, Subscriber

logger = logging.getLogger(__name__)

# A send that failed for a reason that may pass is tried this many times in all.
MAX_SEND_ATTEMPTS = 3
# Deliveries per send task message.
SEND_CHUNK = 100
# What the tick reads of each due reader (the planner's input and the weekly slot).
PLANNING_FIELDS = ("id", "course_id", "email", "stage", "destination", "enrolled_at", "paused_at", "paused_for",
                   "next_send_at", "time_zone", "send_weekday", "send_hour")  # fmt: skip


def reader_state(subscriber) -> planner.Reader:
    """The planner's view of a reader (a Subscriber or a row with the same fields)."""
    return planner.Reader(
        stage=subscriber.stage,
        destination=subscriber.destination,
        enrolled_at=subscriber.enrolled_at,
        paused_for=subscriber.paused_for,
        paused_at=subscriber.paused_at,
    )


@dataclass
class TickReport:
    planned: int = 0
    idle: int = 0
    finished: int = 0
    requeued: int = 0
    batches: int = 0
    delivery_ids: list[int] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"planned {self.planned} emails, {self.idle} readers had nothing due this week, "
            f"{self.finished} finished, {self.requeued} stale deliveries queued again "
            f"({self.batches} batches)"
        )


def next_slot(subscriber, after: datetime) -> datetime:
    return next_weekly_slot(after, subscriber.time_zone, subscriber.send_weekday, subscriber.send_hour)


def tick(
    now: datetime | None = None, batch_size: int | None = None, queue: bool = True, catalogue: Catalogue | None = None
) -> TickReport:
    """Plan an email for every active reader whose `next_send_at` has come, in batches.

    Each batch locks its readers (`skip_locked`, so two ticks never plan the same reader),
    creates their Delivery rows, and queues the sends once the batch has committed (unless
    `queue` is off: the caller sends them). A reader with something in flight has no
    `next_send_at` until the send moves it on. Each batch costs the same few statements
    however many readers it holds.
    """
    now = now or timezone.now()
    batch_size = batch_size or settings.DRIP_BATCH_SIZE
    report = TickReport(requeued=recover_stale(now) if queue else 0)
    catalogue = catalogue or Catalogue.load()
    due = Subscriber.objects.filter(status=Subscriber.Status.ACTIVE, next_send_at__lte=now)
    last_id = 0
    while True:
        with transaction.atomic():
            batch = list(
                due.select_for_update(skip_locked=True)
                .filter(pk__gt=last_id)
                .order_by("pk")
                .values_list(*PLANNING_FIELDS, named=True)[:batch_size]
            )
            if not batch:
                break
            due_in_range = due.filter(pk__gt=last_id, pk__lte=batch[-1].id)
            last_id = batch[-1].id
            report.batches += 1
            ids = _plan_batch(batch, due_in_range, catalogue, now, report)
            if queue:
                # Robust: a broker outage leaves the rows `pending` for recover_stale(), and the tick goes on.
                transaction.on_commit(lambda ids=ids: queue_sends(ids), robust=True)
    logger.info("tick: %s", report)
    return report


def _plan_batch(batch: list, due_in_range, catalogue: Catalogue, now: datetime, report: TickReport) -> list[int]:
    """Plan one locked batch of due readers (rows of PLANNING_FIELDS).

    `due_in_range` selects the due readers between the batch's first and last id: the batch
    itself, plus any reader another tick holds locked (skipped above, whose history is read
    for nothing). It lets the history query join instead of carrying a thousand ids.
    """
    history: dict[int, list[planner.Sent]] = defaultdict(list)
    rows = Delivery.objects.filter(subscriber__in=due_in_range.values("pk")).values_list(
        "subscriber_id", "lesson_id", "course_week", "course_month"
    )
    for subscriber_id, lesson_id, week, month in rows:
        history[subscriber_id].append(planner.Sent(lesson_id, catalogue.kind_of(lesson_id), week, month))
    deliveries, idle, finished = [], [], []
    for row in batch:
        reader = reader_state(row)
        choice = planner.next_email(
            reader, catalogue.rules[row.course_id], catalogue.lessons.get(row.course_id, []), history[row.id], now
        )
        if choice.lesson is not None:
            deliveries.append(
                Delivery(
                    subscriber_id=row.id,
                    lesson_id=choice.lesson.id,
                    version_id=catalogue.versions[choice.lesson.id],
                    due_at=row.next_send_at,
                    reason=choice.reason[:300],
                    course_week=reader.week(now),
                    course_month=reader.month(now),
                    created_at=now,
                )
            )
        elif choice.finished:
            finished.append(row.id)
        else:
            logger.info("no email for %s this week: %s", row.email, choice.reason)
            idle.append(Subscriber(pk=row.id, next_send_at=next_slot(row, now)))
    created = Delivery.objects.bulk_create(deliveries)
    # One UPDATE for everyone with an email in flight; per-reader values only for the idle few.
    Subscriber.objects.filter(pk__in=[d.subscriber_id for d in deliveries]).update(next_send_at=None)
    if idle:
        Subscriber.objects.bulk_update(idle, ["next_send_at"])
    if finished:
        Subscriber.objects.filter(pk__in=finished).update(status=Subscriber.Status.COMPLETED, next_send_at=None)
        for pk in finished:
            audit.record(Subscriber(pk=pk), "status", before="active", after="completed", why="course finished", at=now)
    report.planned += len(deliveries)
    report.idle += len(idle)
    report.finished += len(finished)
    ids = [delivery.pk for delivery in created]
    report.delivery_ids.extend(ids)
    return ids


def queue_sends(delivery_ids: list[int]) -> None:
    """One task message per chunk of deliveries: 100,000 sends are 1,000 messages, not 100,000."""
    from subscribers.tasks import send_deliveries

    for start in range(0, len(delivery_ids), SEND_CHUNK):
        send_deliveries.delay(delivery_ids[start : start + SEND_CHUNK])


def recover_stale(now: datetime) -> int:
    """Queue again the deliveries whose send never happened.

    Rule: a `pending` row not claimed within DRIP_STALE_PENDING_SECONDS of its creation or
    last failed attempt (its task message was lost, e.g. the broker was down), and a
    `sending` row claimed more than DRIP_STALE_SENDING_SECONDS ago (its worker died), are
    queued again. `claim()` lets exactly one task take each of them.
    """
    pending_cutoff = now - timedelta(seconds=settings.DRIP_STALE_PENDING_SECONDS)
    sending_cutoff = now - timedelta(seconds=settings.DRIP_STALE_SENDING_SECONDS)
    stale = Q(state=Delivery.State.PENDING) & (
        Q(claimed_at__lt=pending_cutoff) | Q(claimed_at__isnull=True, created_at__lt=pending_cutoff)
    ) | Q(state=Delivery.State.SENDING, claimed_at__lt=sending_cutoff)
    ids = list(Delivery.objects.filter(stale).order_by("pk").values_list("pk", flat=True)[:5000])
    if ids:
        logger.warning("queueing %d stale deliveries again", len(ids))
        queue_sends(ids)
    return len(ids)


def claim(delivery_id: int, now: datetime) -> bool:
    """Take a delivery for sending with one conditional UPDATE: pending → sending, or a
    `sending` row whose worker died (claimed more than DRIP_STALE_SENDING_SECONDS ago)."""
    rows = Delivery.objects.filter(pk=delivery_id)
    taken = rows.filter(state=Delivery.State.PENDING).update(
        state=Delivery.State.SENDING, claimed_at=now, attempts=F("attempts") + 1
    )
    if taken:
        return True
    stale = now - timedelta(seconds=settings.DRIP_STALE_SENDING_SECONDS)
    taken = rows.filter(state=Delivery.State.SENDING, claimed_at__lt=stale).update(
        claimed_at=now, attempts=F("attempts") + 1
    )
    if taken:
        logger.warning("delivery %s: claimed again after its worker stopped mid-send", delivery_id)
    return bool(taken)


def send_delivery(delivery_id: int, now: datetime | None = None) -> str:
    """Claim, render, send, record. Returns what happened, in a few words."""
    now = now or timezone.now()
    if not claim(delivery_id, now):
        return "skipped: already sent, being sent, or gone"
    delivery = Delivery.objects.select_related("subscriber__course", "lesson", "version").get(pk=delivery_id)
    subscriber = delivery.subscriber
    if subscriber.status != Subscriber.Status.ACTIVE:
        with transaction.atomic():
            audit.record(
                subscriber,
                "delivery.cancelled",
                before={"lesson": delivery.lesson.slug},
                why=f"reader is {subscriber.status}",
                at=now,
            )
            delivery.delete()
        return f"cancelled: reader is {subscriber.status}"

    delivery.message_id = delivery.message_id or emails.delivery_message_id(delivery)
    message = emails.lesson_email(delivery, now)
    try:
        message.send()
    except Exception as exc:  # any ESP or SMTP failure: recorded on the row, retried by rule
        return _record_failure(delivery, exc, now)
    status = getattr(message, "anymail_status", None)
    provider_id = (getattr(status, "message_id", None) if status else None) or delivery.message_id
    _record_sent(delivery, str(provider_id), now)
    return "sent"


def _record_sent(delivery: Delivery, provider_id: str, now: datetime) -> None:
    with transaction.atomic():
        Delivery.objects.filter(pk=delivery.pk, state=Delivery.State.SENDING).update(
            state=Delivery.State.SENT, sent_at=now, message_id=delivery.message_id,
            provider_message_id=provider_id[:255], error="",
        )  # fmt: skip
        subscriber = Subscriber.objects.select_for_update().get(pk=delivery.subscriber_id)
        if subscriber.status != Subscriber.Status.ACTIVE:
            return
        if delivery.lesson.kind == Kind.COMPLETION:
            subscriber.status, subscriber.next_send_at = Subscriber.Status.COMPLETED, None
            audit.record(subscriber, "status", before="active", after="completed", why="completion email sent", at=now)
        elif subscriber.next_send_at is None:
            subscriber.next_send_at = next_slot(subscriber, now)
        subscriber.save(update_fields=["status", "next_send_at", "updated_at"])


def _record_failure(delivery: Delivery, exc: Exception, now: datetime) -> str:
    error = f"{type(exc).__name__}: {exc}"[:2000]
    final = delivery.attempts >= MAX_SEND_ATTEMPTS
    with transaction.atomic():
        Delivery.objects.filter(pk=delivery.pk, state=Delivery.State.SENDING).update(
            state=Delivery.State.FAILED if final else Delivery.State.PENDING, error=error
        )
        if final:
            audit.record(
                delivery.subscriber, "delivery.failed", before={"lesson": delivery.lesson.slug},
                after={"attempts": delivery.attempts}, why=error, at=now,
            )  # fmt: skip
            Subscriber.objects.filter(
                pk=delivery.subscriber_id, status=Subscriber.Status.ACTIVE, next_send_at__isnull=True
            ).update(next_send_at=next_slot(delivery.subscriber, now))
    logger.warning("delivery %s attempt %d failed: %s", delivery.pk, delivery.attempts, error)
    return f"failed ({'final' if final else 'will retry'}): {error}"


def preview_for(
    subscriber: Subscriber,
    weeks: int = 12,
    stage: str | None = None,
    destination: str | None = None,
    now: datetime | None = None,
) -> list[preview.Slot]:
    """The reader's coming weekly emails as the planner will choose them (flow 5), from their
    next send time; a paused reader is previewed as if they resumed now."""
    now = now or timezone.now()
    catalogue = Catalogue.load()
    history = [
        planner.Sent(lesson_id, catalogue.kind_of(lesson_id), week, month)
        for lesson_id, week, month in subscriber.deliveries.values_list("lesson_id", "course_week", "course_month")
    ]
    reader = reader_state(subscriber)
    if subscriber.paused_at is not None:
        reader = replace(reader, paused_for=reader.paused_for + (now - subscriber.paused_at), paused_at=None)
    start = subscriber.next_send_at
    if start is None or subscriber.status != Subscriber.Status.ACTIVE:
        start = next_slot(subscriber, now)
    return preview.preview(
        reader,
        catalogue.rules[subscriber.course_id],
        catalogue.lessons.get(subscriber.course_id, []),
        history,
        start=max(start, now),
        timing=preview.Timing(subscriber.time_zone, subscriber.send_weekday, subscriber.send_hour),
        weeks=weeks,
        stage=stage,
        destination=destination,
    )  # fmt: skip
