"""The drip: tick (plan what is due), claim, send (flows 2 and 3).

The tick, the Celery tasks, `manage.py tick` and the tests all call these functions. Work is
claimed in the database, never in the broker: a lost task message or a dead worker is
found again by `recover_stale()` on a later tick.
"""

from __future__ import annotations

import logging
import random
import smtplib
import sys
import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import repeat
from queue import Empty, Queue
from typing import NamedTuple

from django.conf import settings
from django.core.mail import get_connection
from django.db import connection, transaction
from django.db import connections as db_connections
from django.db.models import F, Q
from django.utils import timezone

from course import planner
from course.vocabulary import Kind
from lessons import sections
from lessons.catalogue import Catalogue
from subscribers import arrays, queueing
from subscribers.models import Delivery, Subscriber
from subscribers.readers import audit, changes
from subscribers.readers.course_time import CLOCK_FIELDS, PROFILE_FIELDS, next_slot_of, reader_state
from subscribers.sending import emails, journal, throttle

logger = logging.getLogger(__name__)

# A send that failed for a reason that may pass (is_transient) is tried this many times in all.
MAX_SEND_ATTEMPTS = 5
# A retry's own delayed task message runs at its retry_at; the tick queues it again only this
# long after, if it was lost.
RETRY_GRACE = timedelta(minutes=2)
# Deliveries per send task message.
SEND_CHUNK = 100
# What the tick reads of each due reader (the planner's input and the weekly slot).
PLANNING_FIELDS = ("id", "course_id", "email", "stage", "destination", "next_send_at", *CLOCK_FIELDS, *PROFILE_FIELDS)


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
            last_id = batch[-1].id
            report.batches += 1
            ids = _plan_batch(batch, catalogue, now, report)
            if queue:
                # Robust: a broker outage leaves the rows `pending` for recover_stale(), and the tick goes on.
                transaction.on_commit(lambda ids=ids: queue_sends(ids), robust=True)
    logger.info("tick: %s", report)
    return report


def _plan_batch(batch: list, catalogue: Catalogue, now: datetime, report: TickReport) -> list[int]:
    """Plan one locked batch of due readers (rows of PLANNING_FIELDS)."""
    history = _histories([row.id for row in batch], catalogue)
    deliveries, idle, finished = [], {}, []
    for row in batch:
        reader = reader_state(row)
        choice = planner.next_email(
            reader,
            catalogue.rules[row.course_id],
            catalogue.lessons.get(row.course_id, ()),
            history.get(row.id, planner.NOTHING_SENT),
            now,
        )
        if choice.lesson is not None:
            lesson_id = choice.lesson.id
            deliveries.append(Planned(row.id, lesson_id, catalogue.versions[lesson_id], row.next_send_at,
                                      choice.reason[:300], choice.week, choice.month))  # fmt: skip
        elif choice.finished:
            finished.append(row.id)
        else:
            logger.info("no email for %s this week: %s", row.email, choice.reason)
            idle[row.id] = next_slot_of(row, now)
    created = _insert_deliveries(deliveries, now)
    # One UPDATE for everyone with an email in flight; per-reader values only for the idle few.
    changes.mark_in_flight([d.subscriber_id for d in deliveries])
    changes.wait_for_slots(idle)
    if finished:
        changes.finish(finished, why="course finished", now=now)
    report.planned += len(deliveries)
    report.idle += len(idle)
    report.finished += len(finished)
    ids = list(created)
    report.delivery_ids.extend(ids)
    return ids


class Planned(NamedTuple):
    """A Delivery row the tick is about to insert (a tuple: no model instance per reader)."""

    subscriber_id: int
    lesson_id: int
    version_id: int
    due_at: datetime
    reason: str
    course_week: int
    course_month: int


def _insert_deliveries(deliveries: list[Planned], now: datetime) -> list[int]:
    """Insert the planned Delivery rows, created `now`, in one statement; returns their ids. On
    PostgreSQL the columns travel as binary arrays (INSERT ... SELECT FROM unnest), which spares the
    ORM's per-value preparation of a bulk_create and the quoting of a thousand values each;
    elsewhere bulk_create."""
    if not deliveries:
        return []
    if connection.vendor != "postgresql":
        rows = [Delivery(**planned._asdict(), created_at=now) for planned in deliveries]
        return [delivery.pk for delivery in Delivery.objects.bulk_create(rows)]
    columns = zip(*((d.subscriber_id, d.lesson_id, d.version_id, d.due_at, d.reason, d.course_week, d.course_month)
                    for d in deliveries), strict=True)  # fmt: skip
    with arrays.binary_cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Delivery._meta.db_table} (subscriber_id, lesson_id, version_id, due_at, reason, "
            "course_week, course_month, created_at, state, attempts, message_id, provider_message_id, error, outcome) "
            "SELECT s, l, ver, d, r, w, m, %b, 'pending', 0, '', '', '', '' FROM unnest(%b::bigint[], %b::bigint[], "
            "%b::bigint[], %b::timestamptz[], %b::text[], %b::int[], %b::int[]) AS planned(s, l, ver, d, r, w, m) "
            "RETURNING id",
            [now, *map(list, columns)],
        )
        return [row[0] for row in cursor.fetchall()]


def _histories(reader_ids: list[int], catalogue: Catalogue) -> dict[int, planner.History]:
    """The readers' past deliveries, in one statement, as the planner reads them: the lessons
    sent, and the check-ins among them with their course time. On PostgreSQL a row per reader
    with arrays (30 deliveries read as one row, not 30, the check-ins picked out by the
    database), the readers' ids one binary array, so the plan is an index lookup per reader
    whatever the table's size; elsewhere a row per delivery."""
    checkins = [lesson_id for lesson_id, info in catalogue.by_id.items() if info.kind == Kind.CHECKIN]
    if connection.vendor == "postgresql":
        checkin = "FILTER (WHERE lesson_id = ANY(%b::bigint[]))"
        with arrays.binary_cursor() as cursor:
            cursor.execute(
                f"SELECT subscriber_id, array_agg(lesson_id), array_agg(lesson_id) {checkin}, "
                f"array_agg(course_week) {checkin}, array_agg(course_month) {checkin} "
                f"FROM {Delivery._meta.db_table} WHERE subscriber_id = ANY(%b::bigint[]) GROUP BY subscriber_id",
                [checkins, checkins, checkins, reader_ids],
            )
            return {
                subscriber_id: planner.History(
                    frozenset(lessons),
                    tuple(map(planner.Sent, ids, repeat(Kind.CHECKIN), weeks, months)) if ids else (),
                )
                for subscriber_id, lessons, ids, weeks, months in cursor.fetchall()
            }
    deliveries = Delivery.objects.filter(subscriber_id__in=reader_ids).order_by()
    past: dict[int, list[planner.Sent]] = defaultdict(list)
    kind_of = catalogue.kind_of
    for subscriber_id, lesson_id, week, month in deliveries.values_list(
        "subscriber_id", "lesson_id", "course_week", "course_month"
    ):
        past[subscriber_id].append(planner.Sent(lesson_id, kind_of(lesson_id), week, month))
    return {subscriber_id: planner.History.of(items) for subscriber_id, items in past.items()}


def queue_sends(delivery_ids: list[int]) -> None:
    """One task message per chunk of deliveries: 100,000 sends are 1,000 messages, not 100,000."""
    for start in range(0, len(delivery_ids), SEND_CHUNK):
        queueing.queue(queueing.SEND_DELIVERIES, delivery_ids[start : start + SEND_CHUNK])


def recover_stale(now: datetime) -> int:
    """Queue again the deliveries whose send never happened.

    Rule: a `pending` row not claimed within DRIP_STALE_PENDING_SECONDS of its creation or
    last failed attempt (its task message was lost, e.g. the broker was down), and a
    `sending` row claimed more than DRIP_STALE_SENDING_SECONDS ago (its worker died), are
    queued again, and so is a retry still `pending` RETRY_GRACE after its `retry_at` (its
    delayed task was lost). `claim_many()` lets exactly one task take each of them. First, the
    sends that stopped workers left in their journals are recorded (`replay_journals()`), so
    what was sent is not sent again.
    """
    replay_journals(now)
    pending_cutoff = now - timedelta(seconds=settings.DRIP_STALE_PENDING_SECONDS)
    sending_cutoff = now - timedelta(seconds=settings.DRIP_STALE_SENDING_SECONDS)
    lost = Q(retry_at__isnull=True) & (
        Q(claimed_at__lt=pending_cutoff) | Q(claimed_at__isnull=True, created_at__lt=pending_cutoff)
    )
    retry_lost = Q(retry_at__lt=now - RETRY_GRACE)
    stale = Q(state=Delivery.State.PENDING) & (lost | retry_lost) | Q(
        state=Delivery.State.SENDING, claimed_at__lt=sending_cutoff
    )
    ids = list(Delivery.objects.filter(stale).order_by("pk").values_list("pk", flat=True)[:5000])
    if ids:
        logger.warning("queueing %d stale deliveries again", len(ids))
        queue_sends(ids)
    return len(ids)


def claim(delivery_id: int, now: datetime) -> bool:
    return bool(claim_many([delivery_id], now))


def claim_many(delivery_ids: list[int], now: datetime) -> list[int]:
    """Take deliveries for sending in one transaction: `pending` ones (whose retry time, if
    any, has come) and `sending` ones whose worker died (claimed more than
    DRIP_STALE_SENDING_SECONDS ago) become `sending`, claimed now. Rows another worker holds are
    skipped; returns the ids taken. Before a stale `sending` row is taken, the journals are
    replayed, so one whose send its dead worker noted is recorded as sent instead."""
    stale = now - timedelta(seconds=settings.DRIP_STALE_SENDING_SECONDS)
    claimable = Q(state=Delivery.State.PENDING) & (Q(retry_at__isnull=True) | Q(retry_at__lte=now)) | Q(
        state=Delivery.State.SENDING, claimed_at__lt=stale
    )
    replayed = False
    while True:
        with transaction.atomic():
            rows = list(
                Delivery.objects.select_for_update(skip_locked=True)
                .filter(claimable, pk__in=delivery_ids)
                .values_list("pk", "state")
            )
            reclaiming = [pk for pk, state in rows if state == Delivery.State.SENDING]
            if not reclaiming or replayed:
                taken = [pk for pk, _ in rows]
                if taken:
                    Delivery.objects.filter(pk__in=taken).update(
                        state=Delivery.State.SENDING, claimed_at=now, attempts=F("attempts") + 1
                    )
                break
        replay_journals(now)  # outside the claim's transaction: what it records stays recorded
        replayed = True
    for pk in reclaiming:
        logger.warning("delivery %s: claimed again after its worker stopped mid-send", pk)
    return taken


@dataclass
class SendReport:
    """What one chunk of sends did: a few words per delivery, and when failed ones retry."""

    outcomes: dict[int, str] = field(default_factory=dict)
    retry_at: dict[int, datetime] = field(default_factory=dict)
    requests: int = 0


def send_delivery(delivery_id: int, now: datetime | None = None) -> str:
    """Claim, render, send, record one delivery. Returns what happened, in a few words."""
    return send_deliveries([delivery_id], now).outcomes[delivery_id]


def send_deliveries(delivery_ids: list[int], now: datetime | None = None) -> SendReport:
    """Claim, render, send, record a chunk of deliveries (flow 3).

    Readers no longer active are cancelled. The rest go out one at a time through one
    connection to the ESP, held to its rate (subscribers.sending.throttle); deliveries of one lesson
    version go out as one batch call when the ESP substitutes per-recipient data itself
    (emails.batch_capable). A helper thread renders each next message while the one before is
    on the wire (`_prepared`). Each accepted message is noted in the chunk's journal as the ESP
    answers, and the chunk is recorded in the database once, at its end: a worker killed
    mid-chunk resends at most the message it was sending (subscribers.sending.journal). Failures are
    sorted by `is_transient()`: a transient one stays `pending` with a `retry_at` (exponential
    backoff with jitter, MAX_SEND_ATTEMPTS in all); a permanent one fails the delivery with the
    reason. A retry claims only what is still unsent.
    """
    now = now or timezone.now()
    report = SendReport({pk: "skipped: already sent, being sent, or gone" for pk in delivery_ids})
    claimed = claim_many(delivery_ids, now)
    if not claimed:
        return report
    live = []
    # The chunk's few lessons, versions and courses are read once each, not once per delivery.
    chunk = Delivery.objects.select_related("subscriber").prefetch_related("lesson", "version", "subscriber__course")
    for delivery in chunk.filter(pk__in=claimed):
        if delivery.subscriber.status != Subscriber.Status.ACTIVE:
            pk = delivery.pk  # delete() clears it
            report.outcomes[pk] = _cancel(delivery, now)
        else:
            delivery.message_id = delivery.message_id or emails.delivery_message_id(delivery)
            emails.read_ahead(delivery, now)
            live.append(delivery)
    if not live:
        return report
    connection = get_connection()
    batching = emails.batch_capable(connection)
    try:
        connection.open()
    except Exception as exc:  # the ESP or SMTP server is unreachable: every send in the chunk failed
        for delivery in live:
            _record_failure(delivery, exc, now, report)
        return report
    throttle.wait_for(emails.esp_name(), len(live))  # the whole chunk's share of the ESP's rate, once
    sent: list[tuple[Delivery, str]] = []
    try:
        with journal.Journal() as log, _prepared(_groups(live, batching), connection, now) as prepared:
            for group, message in prepared:
                report.requests += 1
                for delivery, provider_id in _send(group, message, now, report):
                    log.sent(delivery.pk, provider_id, now)
                    sent.append((delivery, provider_id))
            _record_sent([(delivery, provider_id, now) for delivery, provider_id in sent], now, report)
            log.done()
    finally:
        connection.close()
    return report


def _groups(deliveries: list[Delivery], batching: bool) -> list[list[Delivery]]:
    if not batching:
        return [[delivery] for delivery in sorted(deliveries, key=lambda d: d.pk)]
    # One batch per rendered copy: the version and which of its `::: for` sections the reader sees.
    by_copy: dict[tuple, list[Delivery]] = defaultdict(list)
    for delivery in sorted(deliveries, key=lambda d: d.pk):
        variant = sections.variant_for(delivery.version.body, emails.reader_profile(delivery.subscriber))
        by_copy[(delivery.version_id, variant)].append(delivery)
    return list(by_copy.values())


@contextmanager
def _prepared(groups: list[list[Delivery]], connection, now: datetime) -> Iterator[Iterator[tuple[list, object]]]:
    """Each group's message, built by a helper thread one message ahead of the send.

    Building (personalise, MIME, and for a backend with `prepare()` the bytes on the wire) is
    CPU work; sending is mostly waiting for the ESP's answer, time the helper uses for the next
    message. Only one message is ever on the wire. The helper reads nothing from the database
    (the deliveries come with what they need); a message that cannot be built is handed on as
    the exception, and fails its deliveries."""
    prepare = getattr(connection, "prepare", None)
    ahead: Queue = Queue(maxsize=1)
    stop = threading.Event()

    def build(group: list[Delivery]):
        try:
            if len(group) > 1:
                message = emails.lesson_batch(group, now, connection)
            else:
                message = emails.lesson_email(group[0], now)
            message.connection = connection
            if prepare is not None:
                prepare(message)
            return message
        except Exception as exc:  # a lesson that cannot be rendered fails its deliveries
            logger.exception("delivery %s: the message could not be built", group[0].pk)
            return exc

    def work() -> None:
        try:
            for group in groups:
                if stop.is_set():
                    break
                ahead.put((group, build(group)))
        finally:
            db_connections.close_all()  # this thread's, should anything have opened one
            ahead.put(None)

    def messages() -> Iterator[tuple[list, object]]:
        while (item := ahead.get()) is not None:
            yield item

    helper = threading.Thread(target=work, name="drip-prepare", daemon=True)
    switch_interval = sys.getswitchinterval()
    # The sender needs the GIL back at each of the ESP's answers (four per SMTP message); with
    # CPython's default 5 ms the helper would keep it that long. At 50 us an SMTP message took
    # 1.75 ms instead of 2.0 here (bench/send.py). Restored when the chunk ends.
    sys.setswitchinterval(SEND_SWITCH_INTERVAL)
    helper.start()
    try:
        yield messages()
    finally:
        sys.setswitchinterval(switch_interval)
        stop.set()
        while helper.is_alive():  # let it finish a put it may be blocked on
            with suppress(Empty):
                ahead.get(timeout=0.1)
        helper.join()


SEND_SWITCH_INTERVAL = 0.00005
# anymail's per-recipient statuses that mean the ESP will not send (an invalid or suppressed address).
REFUSED = {"rejected", "invalid", "failed"}


def _send(group: list[Delivery], message, now: datetime, report: SendReport) -> list[tuple[Delivery, str]]:
    """Send one group's message; returns the deliveries the ESP accepted with its id for each
    (failures are recorded on their rows)."""
    if isinstance(message, Exception):
        for delivery in group:
            _record_failure(delivery, message, now, report)
        return []
    try:
        message.send()
    except Exception as exc:  # any ESP or SMTP failure: nobody in the call was sent
        for delivery in group:
            _record_failure(delivery, exc, now, report)
        return []
    status = getattr(message, "anymail_status", None)
    accepted = []
    for delivery in group:
        recipient = status.recipients.get(delivery.subscriber.email) if status is not None else None
        if recipient is not None and recipient.status in REFUSED:
            refused = PermanentSendError(f"the ESP refused the recipient ({recipient.status})")
            _record_failure(delivery, refused, now, report)
        else:
            accepted.append((delivery, str((recipient.message_id if recipient else None) or delivery.message_id)))
    return accepted


def _cancel(delivery: Delivery, now: datetime) -> str:
    subscriber = delivery.subscriber
    with transaction.atomic():
        audit.record(
            subscriber, audit.What.DELIVERY_CANCELLED, before={"lesson": delivery.lesson.slug},
            why=f"reader is {subscriber.status}", at=now,
        )  # fmt: skip
        delivery.delete()
    return f"cancelled: reader is {subscriber.status}"


def replay_journals(now: datetime | None = None) -> int:
    """Record the sends that journals hold and the database does not (a worker died, or lost
    the database, between the ESP's answer and the end of its chunk); delete the journals whose
    owner is gone. Returns how many deliveries it recorded as sent."""
    now = now or timezone.now()
    entries, orphaned = journal.read_all()
    by_delivery = {entry.delivery_id: entry for entry in entries}
    recorded = 0
    if by_delivery:
        waiting = Delivery.objects.select_related("subscriber__course", "lesson").filter(
            pk__in=list(by_delivery), state=Delivery.State.SENDING
        )
        sent = [(d, by_delivery[d.pk].provider_id, by_delivery[d.pk].at) for d in waiting]
        report = SendReport()
        _record_sent(sent, now, report)
        recorded = len(sent)
        if recorded:
            logger.warning("recorded %d sends from the journals of stopped workers", recorded)
    for path in orphaned:
        path.unlink(missing_ok=True)
    return recorded


def _record_sent(sent: list[tuple[Delivery, str, datetime]], now: datetime, report: SendReport) -> None:
    """Mark deliveries sent (each with the ESP's id and when it was sent) and move each reader
    to their next weekly slot, in one transaction.

    Each UPDATE is conditional (still `sending`; reader still active with nothing scheduled),
    so a concurrent pause or stop wins without a lock, and recording a send twice changes
    nothing. On PostgreSQL each table takes one statement whose rows come as arrays (elsewhere
    `executemany`), all in one pipeline, and the commit does not wait for the disk: the chunk's
    journal is kept until this returns, and only a crash of the database server itself within
    ~0.2 s (wal_writer_delay) of it can forget a send, which is then sent again with the same
    Message-ID, which mail clients fold.
    """
    if not sent:
        return
    finishing = [delivery for delivery, _, _ in sent if delivery.lesson.kind == Kind.COMPLETION]
    at = connection.ops.adapt_datetimefield_value  # raw SQL: the database's own datetime form
    deliveries = [(at(when), d.message_id or emails.delivery_message_id(d), provider_id[:255], d.pk)
                  for d, provider_id, when in sent]  # fmt: skip
    next_slots = [(at(next_slot_of(d.subscriber, when)), d.subscriber_id) for d, _, when in sent
                  if d not in finishing]  # fmt: skip
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with connection.connection.pipeline():  # one round trip
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
                cursor.execute(
                    f"UPDATE {Delivery._meta.db_table} AS d SET state = 'sent', sent_at = v.sent_at, error = '', "
                    "retry_at = NULL, message_id = v.message_id, provider_message_id = v.provider_message_id "
                    "FROM unnest(%s::timestamptz[], %s::text[], %s::text[], %s::bigint[]) "
                    "AS v(sent_at, message_id, provider_message_id, id) WHERE d.id = v.id AND d.state = 'sending'",
                    [list(column) for column in zip(*deliveries, strict=True)],
                )
                changes.schedule_after_sends(cursor, next_slots, now)
        else:
            cursor.executemany(
                f"UPDATE {Delivery._meta.db_table} SET state = 'sent', sent_at = %s, error = '', retry_at = NULL, "
                "message_id = %s, provider_message_id = %s WHERE id = %s AND state = 'sending'",
                deliveries,
            )
            changes.schedule_after_sends(cursor, next_slots, now)
        if finishing:
            changes.finish([d.subscriber_id for d in finishing], why="completion email sent", now=now)
    for delivery, _, _ in sent:
        report.outcomes[delivery.pk] = "sent"


class PermanentSendError(Exception):
    """The ESP accepted the call but will not send to this recipient."""


# Transient failures are retried after RETRY_BASE_SECONDS * 2^(attempt-1), capped at
# RETRY_MAX_SECONDS, times a random 50-100% (jitter, so a burst of failures does not retry in
# lockstep): about 30 s, 1, 2 and 4 minutes; MAX_SEND_ATTEMPTS in all.
RETRY_BASE_SECONDS = 30
RETRY_MAX_SECONDS = 600
TRANSIENT_SES_CODES = {"Throttling", "ThrottlingException", "TooManyRequestsException", "ServiceUnavailable",
                       "InternalFailure", "RequestTimeout"}  # fmt: skip


def is_transient(exc: BaseException) -> bool:
    """Whether a send failure may pass if tried again: timeouts, refused or dropped connections,
    HTTP 408/429/5xx from the ESP's API, SMTP 4xx replies, and SES throttling. Anything else
    (a 4xx the ESP means, a refused recipient, an answer we cannot read) is permanent."""
    status = getattr(exc, "status_code", None)
    if status is None and isinstance(getattr(exc, "response", None), dict):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if exc.response.get("Error", {}).get("Code") in TRANSIENT_SES_CODES:
            return True
    if status is not None:
        return status in (408, 429) or status >= 500
    if isinstance(exc, (PermanentSendError, smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused)):
        return any(400 <= code < 500 for code, _ in _smtp_codes(exc))
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    if isinstance(exc, OSError | TimeoutError | smtplib.SMTPServerDisconnected):
        return True  # connection refused, reset or timed out (requests' errors are OSErrors too)
    cause = exc.__cause__
    return cause is not None and ("Connect" in type(cause).__name__ or "Timeout" in type(cause).__name__)


def _smtp_codes(exc: BaseException) -> list[tuple[int, bytes]]:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return list(exc.recipients.values())
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return [(exc.smtp_code, exc.smtp_error)]
    return []


def retry_delay(attempt: int) -> float:
    return min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)


def _record_failure(delivery: Delivery, exc: Exception, now: datetime, report: SendReport) -> None:
    error = f"{type(exc).__name__}: {exc}"[:2000]
    transient = is_transient(exc)
    final = not transient or delivery.attempts >= MAX_SEND_ATTEMPTS
    retry_at = None if final else now + timedelta(seconds=retry_delay(delivery.attempts))
    with transaction.atomic():
        Delivery.objects.filter(pk=delivery.pk, state=Delivery.State.SENDING).update(
            state=Delivery.State.FAILED if final else Delivery.State.PENDING, error=error, retry_at=retry_at
        )
        if final:
            audit.record(
                delivery.subscriber, audit.What.DELIVERY_FAILED, before={"lesson": delivery.lesson.slug},
                after={"attempts": delivery.attempts, "transient": transient}, why=error, at=now,
            )  # fmt: skip
            changes.schedule_after_failure(delivery.subscriber, now)
    logger.warning("delivery %s attempt %d failed: %s", delivery.pk, delivery.attempts, error)
    if retry_at is not None:
        report.retry_at[delivery.pk] = retry_at
        seconds = round((retry_at - now).total_seconds())
        report.outcomes[delivery.pk] = f"failed (will retry in {seconds} s): {error}"
    else:
        report.outcomes[delivery.pk] = f"failed ({'final' if transient else 'permanent'}): {error}"
