"""Every change to a reader's state, in one place: the only code that sets a reader's `status`,
`stage`, `destination`, profile, `email`, `link_generation`, `paused_*` or `next_send_at`.

Each function for one reader locks the reader's row, changes it, and writes an audit row in the
same transaction, and returns the Change made (None when there was nothing to change). Replies,
the undo link, the admin review queue and the preferences page all call these. The bulk forms
serve the hot paths: the tick (readers planned, idle or finished), the send path (the next slot
after a send or a failed one) and Stripe (a refund or dispute ends a course); the ones that change
a status write their audit rows in the same transaction too.

Course time: time away from the course (paused or unsubscribed) does not count as course
time. Leaving `active` sets `paused_at` and clears `next_send_at`; coming back adds the weekly
slots since `paused_at` to `paused_slots` (course.schedule), clears `paused_at` and schedules
the next weekly slot.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from course.schedule import is_time_zone, local_weekday, paused_slots
from course.vocabulary import LicensePlan, PayNeed, Profession, Stage
from subscribers import arrays
from subscribers.models import Event, Subscriber
from subscribers.readers import audit
from subscribers.readers.course_time import next_slot_of, timing_of

Status = Subscriber.Status
What = Event.What
TRACK_CHANGES = {
    "stage": What.STAGE_CHANGED,
    "destination": What.DESTINATION_CHANGED,
    "license_plan": What.LICENSE_PLAN_CHANGED,
    "pay_need": What.PAY_NEED_CHANGED,
    "profession": What.PROFESSION_CHANGED,
    "specialty": What.SPECIALTY_CHANGED,
}
# A reader in one of these can be moved between them; refunded, suppressed and completed are final here.
MOVABLE = {Status.ACTIVE, Status.PAUSED, Status.UNSUBSCRIBED}
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# A new weekly slot is never sooner than this after the last course email.
MIN_WEEKLY_GAP = timedelta(days=6)


class ChangeRefused(ValueError):
    """The change does not apply to this reader; the message says why in one line."""


@dataclass(frozen=True)
class Change:
    what: str  # stage | destination | license_plan | pay_need | profession | specialty | status | timing | email
    before: str
    after: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def _locked(subscriber: Subscriber) -> Subscriber:
    fresh = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
    subscriber.__dict__.update({f.attname: getattr(fresh, f.attname) for f in Subscriber._meta.concrete_fields})
    return subscriber


def change_stage(
    subscriber: Subscriber, stage: str, *, actor: str, why: str, now: datetime | None = None
) -> Change | None:
    return _change_track("stage", Stage.values, subscriber, stage, actor=actor, why=why, now=now)


def change_destination(
    subscriber: Subscriber, destination: str, *, actor: str, why: str, now: datetime | None = None
) -> Change | None:
    allowed = subscriber.course.words.destination_values  # the course's own tracks
    return _change_track("destination", allowed, subscriber, destination, actor=actor, why=why, now=now)


def change_license_plan(
    subscriber: Subscriber, plan: str, *, actor: str, why: str, now: datetime | None = None
) -> Change | None:
    """What the reader means to do with their license (keep, let-go, unsure); lessons target it."""
    return _change_track("license_plan", LicensePlan.values, subscriber, plan, actor=actor, why=why, now=now)


def change_pay_need(
    subscriber: Subscriber, need: str, *, actor: str, why: str, now: datetime | None = None
) -> Change | None:
    """What the reader's household needs them to earn; lessons target it."""
    return _change_track("pay_need", PayNeed.values, subscriber, need, actor=actor, why=why, now=now)


def change_profession(
    subscriber: Subscriber, profession: str, *, actor: str, why: str, now: datetime | None = None
) -> Change | None:
    """The reader's licensed profession ("" when they have not said); lessons target it."""
    allowed = [*Profession.values, ""]
    return _change_track("profession", allowed, subscriber, profession, actor=actor, why=why, now=now)


SPECIALTY_MAX_LENGTH = Subscriber._meta.get_field("specialty").max_length


def change_specialty(
    subscriber: Subscriber, specialty: str, *, actor: str, why: str, now: datetime | None = None
) -> Change | None:
    """The reader's role and specialty in their own words ("ICU nurse"), spaces tidied."""
    specialty = " ".join(specialty.split())
    if len(specialty) > SPECIALTY_MAX_LENGTH:
        raise ChangeRefused(f"the specialty is longer than {SPECIALTY_MAX_LENGTH} characters")
    return _change_track("specialty", None, subscriber, specialty, actor=actor, why=why, now=now)


def _change_track(
    what: str, allowed: list[str] | None, subscriber: Subscriber, value: str, *, actor: str, why: str,
    now: datetime | None,
) -> Change | None:  # fmt: skip
    """Set the reader's stage, destination or a profile answer; the planner follows it from the next email.
    `allowed` None: any text."""
    if allowed is not None and value not in allowed:
        raise ChangeRefused(f"unknown {what} {value!r}")
    with transaction.atomic():
        _locked(subscriber)
        if getattr(subscriber, what) == value:
            return None
        change = Change(what, getattr(subscriber, what), value)
        setattr(subscriber, what, value)
        fields = [what, "updated_at"]
        if what == "stage":  # the reader has told us where they are: the planner stops following the calendar
            subscriber.stage_reported_at = now or timezone.now()
            fields.append("stage_reported_at")
        subscriber.save(update_fields=fields)
        audit.record(
            subscriber, TRACK_CHANGES[what], before=change.before, after=change.after, why=why, actor=actor, at=now
        )
    return change


def move_status(
    subscriber: Subscriber, status: str, *, actor: str, why: str, now: datetime | None = None
) -> Change | None:
    """Move a reader between active, paused and unsubscribed, keeping course time right (module docstring)."""
    now = now or timezone.now()
    if status not in MOVABLE:
        raise ChangeRefused(f"{status} cannot be chosen: it follows a refund, a bounce or the end of the course")
    with transaction.atomic():
        _locked(subscriber)
        if subscriber.status == status:
            return None
        if subscriber.status not in MOVABLE:
            raise ChangeRefused(f"the reader is {subscriber.status}")
        change = Change("status", subscriber.status, status)
        if subscriber.status == Status.ACTIVE:
            subscriber.paused_at, subscriber.next_send_at = now, None
        elif status == Status.ACTIVE:
            if subscriber.paused_at is not None:
                subscriber.paused_slots += paused_slots(subscriber.paused_at, now, timing_of(subscriber))
            subscriber.paused_at = None
            # The weekly slot may have moved while away: coming back never brings two emails within six days.
            subscriber.next_send_at = next_slot_of(subscriber, max(now, _last_sent(subscriber) + MIN_WEEKLY_GAP))
        subscriber.status = status
        subscriber.save(update_fields=["status", "paused_at", "paused_slots", "next_send_at", "updated_at"])
        audit.record(
            subscriber, What.STATUS_CHANGED, before=change.before, after=change.after, why=why, actor=actor, at=now
        )
    return change


def pause(subscriber: Subscriber, *, actor: str, why: str, now: datetime | None = None) -> Change | None:
    if subscriber.status == Status.UNSUBSCRIBED:
        raise ChangeRefused("the reader is unsubscribed")
    return move_status(subscriber, Status.PAUSED, actor=actor, why=why, now=now)


def resume(subscriber: Subscriber, *, actor: str, why: str, now: datetime | None = None) -> Change | None:
    return move_status(subscriber, Status.ACTIVE, actor=actor, why=why, now=now)


def stop(subscriber: Subscriber, *, actor: str, why: str, now: datetime | None = None) -> Change | None:
    return move_status(subscriber, Status.UNSUBSCRIBED, actor=actor, why=why, now=now)


COMMANDS = {"pause": pause, "resume": resume, "stop": stop}


def revert(
    subscriber: Subscriber, change: Change, *, actor: str, why: str, now: datetime | None = None
) -> Change | None:
    """Undo one change, if the reader still has its result (a later change wins over an undo)."""
    with transaction.atomic():
        _locked(subscriber)
        if getattr(subscriber, change.what) != change.after:
            return None
        setters = {"stage": change_stage, "destination": change_destination, "license_plan": change_license_plan,
                   "pay_need": change_pay_need, "profession": change_profession, "specialty": change_specialty,
                   "status": move_status}  # fmt: skip
        return setters[change.what](subscriber, change.before, actor=actor, why=why, now=now)


def fast_forward(subscriber: Subscriber, weeks: int, *, actor: str, why: str, now: datetime | None = None) -> Change:
    """Move the reader `weeks` further into the course and make their next email due now (for
    trying the course on a development machine: the check-in of week 4 without waiting)."""
    now = now or timezone.now()
    with transaction.atomic():
        _locked(subscriber)
        if subscriber.status != Status.ACTIVE:
            raise ChangeRefused(f"the reader is {subscriber.status}")
        before = subscriber.enrolled_at
        subscriber.enrolled_at -= timedelta(weeks=weeks)
        subscriber.next_send_at = now
        subscriber.save(update_fields=["enrolled_at", "next_send_at", "updated_at"])
        change = Change("enrolled_at", before.isoformat(), subscriber.enrolled_at.isoformat())
        audit.record(
            subscriber, What.FAST_FORWARDED, before=change.before, after=change.after, why=why, actor=actor, at=now
        )
    return change


def change_timing(
    subscriber: Subscriber,
    *,
    time_zone: str,
    send_hour: int,
    send_weekday: int,
    actor: str,
    why: str,
    now: datetime | None = None,
) -> Change | None:
    """Move the reader's weekly slot (time zone, local hour, weekday). An active reader's next
    email moves to the new slot at once; one in flight moves the slot after it is sent."""
    now = now or timezone.now()
    if not is_time_zone(time_zone):
        raise ChangeRefused(f"unknown time zone {time_zone!r}")
    if not (0 <= send_hour <= 23 and 0 <= send_weekday <= 6):
        raise ChangeRefused("the hour must be 0-23 and the weekday 0-6")
    with transaction.atomic():
        _locked(subscriber)
        before = timing(subscriber)
        subscriber.time_zone, subscriber.send_hour, subscriber.send_weekday = time_zone, send_hour, send_weekday
        after = timing(subscriber)
        if after == before:
            return None
        if subscriber.status == Status.ACTIVE and subscriber.next_send_at is not None:
            subscriber.next_send_at = next_slot_of(subscriber, max(now, _last_sent(subscriber) + MIN_WEEKLY_GAP))
        subscriber.save(update_fields=["time_zone", "send_hour", "send_weekday", "next_send_at", "updated_at"])
        audit.record(subscriber, What.TIMING_CHANGED, before=before, after=after, why=why, actor=actor, at=now)
    return Change("timing", before, after)


def ask_for_new_email(subscriber: Subscriber, email: str, *, actor: str, why: str, now: datetime | None = None) -> None:
    """Note that a confirmation link went to `email` (audited; nothing about the reader changes
    until change_email). Refused for the reader's own address."""
    if email == subscriber.email:
        raise ChangeRefused("that is already the course's address")
    audit.record(subscriber, What.EMAIL_CHANGE_REQUESTED, before=subscriber.email, after=email, why=why,
                 actor=actor, at=now)  # fmt: skip


def change_email(
    subscriber: Subscriber, email: str, *, actor: str, why: str, now: datetime | None = None
) -> Change | None:
    """The course goes to `email` from the next email on. Every link signed for the reader so far
    stops opening pages (the unsubscribe links go on working): they were sent to the old address."""
    email = email.strip().lower()
    with transaction.atomic():
        _locked(subscriber)
        if subscriber.email == email:
            return None
        if Subscriber.objects.filter(course=subscriber.course_id, email=email).exclude(pk=subscriber.pk).exists():
            raise ChangeRefused(f"{email} already receives this course")
        change = Change("email", subscriber.email, email)
        subscriber.email = email
        subscriber.link_generation += 1
        subscriber.save(update_fields=["email", "link_generation", "updated_at"])
        audit.record(subscriber, What.EMAIL_CHANGED, before=change.before, after=change.after, why=why, actor=actor,
                     at=now)  # fmt: skip
    return change


def revoke_links(subscriber: Subscriber, *, actor: str, why: str, now: datetime | None = None) -> Change:
    """Sign out every link sent to the reader so far: preferences, plan and archive links stop
    opening (each expired-link page offers a fresh one by email); unsubscribe links still work."""
    with transaction.atomic():
        _locked(subscriber)
        before = subscriber.link_generation
        subscriber.link_generation += 1
        subscriber.save(update_fields=["link_generation", "updated_at"])
        change = Change("link_generation", str(before), str(subscriber.link_generation))
        audit.record(subscriber, What.LINKS_REVOKED, before=before, after=subscriber.link_generation, why=why,
                     actor=actor, at=now)  # fmt: skip
    return change


def timing(subscriber: Subscriber) -> str:
    return f"{WEEKDAYS[subscriber.send_weekday]} {subscriber.send_hour:02d}:00 {subscriber.time_zone}"


def _last_sent(subscriber: Subscriber) -> datetime:
    from subscribers.models import Delivery

    last = subscriber.deliveries.filter(state=Delivery.State.SENT).order_by("-sent_at").values("sent_at").first()
    return last["sent_at"] if last and last["sent_at"] else subscriber.enrolled_at - MIN_WEEKLY_GAP


def suppress(subscriber: Subscriber, *, actor: str, why: str, now: datetime | None = None) -> Change | None:
    """Stop every email to an address that bounced hard or complained (status `suppressed`).

    Final: the preferences page and replies cannot undo it; pending deliveries are cancelled
    by the send path, which sends only to active readers.
    """
    now = now or timezone.now()
    with transaction.atomic():
        _locked(subscriber)
        if subscriber.status in (Status.SUPPRESSED, Status.REFUNDED):
            return None
        change = Change("status", subscriber.status, Status.SUPPRESSED)
        if subscriber.status == Status.ACTIVE:
            subscriber.paused_at = now
        subscriber.status, subscriber.next_send_at = Status.SUPPRESSED, None
        subscriber.save(update_fields=["status", "paused_at", "next_send_at", "updated_at"])
        audit.record(
            subscriber, What.STATUS_CHANGED, before=change.before, after=change.after, why=why, actor=actor, at=now
        )
    return change


# --- Enrolment -----------------------------------------------------------------------------


def enrol(course, *, email: str, actor: str, why: str, now: datetime, **profile) -> Subscriber:
    """Create the reader (stage, destination, timing and profile from `profile`), due at once
    for the welcome, on the enrolment weekday; raises IntegrityError if already enrolled."""
    with transaction.atomic():
        subscriber = Subscriber.objects.create(
            course=course,
            email=email,
            status=Status.ACTIVE,
            send_weekday=local_weekday(now, profile["time_zone"]),
            enrolled_at=now,
            next_send_at=now,
            **profile,
        )
        audit.record(
            subscriber,
            What.ENROLLED,
            after={"course": course.slug, "stage": subscriber.stage, "destination": subscriber.destination},
            why=why,
            actor=actor,
            at=now,
        )
    return subscriber


# --- Bulk forms: the tick, the send path, Stripe --------------------------------------------


def mark_in_flight(subscriber_ids: list[int]) -> None:
    """Readers with an email planned have no `next_send_at` until it is sent (the tick). On
    PostgreSQL the ids travel as one binary array parameter rather than a thousand placeholders."""
    if not subscriber_ids:
        return
    if connection.vendor == "postgresql":
        with arrays.binary_cursor() as cursor:
            cursor.execute(
                f"UPDATE {Subscriber._meta.db_table} SET next_send_at = NULL WHERE id = ANY(%b::bigint[])",
                [subscriber_ids],
            )
    else:
        Subscriber.objects.filter(pk__in=subscriber_ids).update(next_send_at=None)


def wait_for_slots(next_slots: dict[int, datetime]) -> None:
    """Readers with nothing to send this slot wait for their next one (the tick; readers locked)."""
    if next_slots:
        Subscriber.objects.bulk_update([Subscriber(pk=pk, next_send_at=at) for pk, at in next_slots.items()],
                                       ["next_send_at"])  # fmt: skip


def schedule_after_sends(cursor, next_slots: list[tuple[object, int]], now: datetime) -> None:
    """Each reader whose email was just sent waits for their next slot: `next_slots` holds
    (slot, reader id) with the slot in the database's own datetime form, written through the send
    path's `cursor` inside its transaction (on PostgreSQL, its pipeline). Conditional: a reader
    paused or stopped meanwhile, or already scheduled, is left alone."""
    if not next_slots:
        return
    at = connection.ops.adapt_datetimefield_value(now)
    if connection.vendor == "postgresql":
        cursor.execute(
            f"UPDATE {Subscriber._meta.db_table} AS s SET next_send_at = v.next_send_at, updated_at = %s "
            "FROM unnest(%s::timestamptz[], %s::bigint[]) AS v(next_send_at, id) "
            "WHERE s.id = v.id AND s.status = 'active' AND s.next_send_at IS NULL",
            [at, [slot for slot, _ in next_slots], [pk for _, pk in next_slots]],
        )
    else:
        cursor.executemany(
            f"UPDATE {Subscriber._meta.db_table} SET next_send_at = %s, updated_at = %s "
            "WHERE id = %s AND status = 'active' AND next_send_at IS NULL",
            [(slot, at, pk) for slot, pk in next_slots],
        )


def schedule_after_failure(subscriber: Subscriber, now: datetime) -> None:
    """A send that failed for good: the course goes on at the reader's next slot."""
    Subscriber.objects.filter(pk=subscriber.pk, status=Status.ACTIVE, next_send_at__isnull=True).update(
        next_send_at=next_slot_of(subscriber, now)
    )


def finish(subscriber_ids: Iterable[int], *, why: str, now: datetime) -> list[int]:
    """The course is over for these active readers: `completed`, nothing more scheduled, an audit
    row each. Returns the ids changed (a reader no longer active is left alone)."""
    return _end_many(subscriber_ids, Status.COMPLETED, {Status.ACTIVE}, why=why, actor="system", now=now)


def end_paid_course(subscriber_ids: Iterable[int], *, why: str, actor: str, now: datetime) -> list[int]:
    """A refund or dispute stops the course the payment paid for: `refunded`, no more email,
    ever; an audit row each. Final, whatever the reader's status was."""
    movable = set(Status) - {Status.REFUNDED}
    return _end_many(subscriber_ids, Status.REFUNDED, movable, why=why, actor=actor, now=now)


def _end_many(
    subscriber_ids: Iterable[int], status: str, movable: set[str], *, why: str, actor: str, now: datetime
) -> list[int]:
    with transaction.atomic():
        rows = list(
            Subscriber.objects.select_for_update()
            .filter(pk__in=list(subscriber_ids), status__in=movable)
            .values_list("pk", "status")
        )
        if not rows:
            return []
        Subscriber.objects.filter(pk__in=[pk for pk, _ in rows]).update(
            status=status, next_send_at=None, updated_at=now
        )
        by_status: dict[str, list[int]] = {}
        for pk, before in rows:
            by_status.setdefault(before, []).append(pk)
        for before, ids in by_status.items():
            audit.record_many(ids, What.STATUS_CHANGED, before=before, after=status, why=why, actor=actor, at=now)
    return [pk for pk, _ in rows]
