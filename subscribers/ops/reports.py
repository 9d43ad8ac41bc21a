"""What the operator sees: how the course is going, one reader's whole story, and exports.

Every figure is aggregated in the database with a fixed number of statements, so a page costs
the same with 100 readers or 1,000,000: the dashboard's counts by day come from the daily rollup
(subscribers.ops.rollup), the rest from indexes declared on the models with comments naming the
function here that reads them.
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db.models import Q, QuerySet, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from course.models import Course
from course.preview import Slot
from course.schedule import COURSE_MONTH
from course.vocabulary import Kind, Vocabulary, builtin_vocabulary
from subscribers.models import Delivery, EmailDay, EnrolmentDay, Event, Payment, Reply, ReplyDay, Subscriber
from subscribers.plan.coming import preview_for

IN_COURSE = (Subscriber.Status.ACTIVE, Subscriber.Status.PAUSED)
LEFT = (Subscriber.Status.UNSUBSCRIBED, Subscriber.Status.REFUNDED, Subscriber.Status.SUPPRESSED)
PROBLEM = Q(state=Delivery.State.FAILED) | Q(outcome__in=[Delivery.Outcome.BOUNCED, Delivery.Outcome.COMPLAINED])
RECENT_PROBLEMS = 15


@dataclass
class Day:
    day: date
    sent: int = 0
    delivered: int = 0
    bounced: int = 0
    complained: int = 0


@dataclass
class Cohort:
    """Readers who enrolled in one calendar month, and where they are now."""

    month: date
    course_month: int
    by_stage: Counter = field(default_factory=Counter)
    left: int = 0

    @property
    def readers(self) -> int:
        return sum(self.by_stage.values()) + self.left


@dataclass
class Overview:
    course: Course | None
    days: int
    since: datetime
    readers: int = 0
    new_readers: int = 0
    by_status: Counter = field(default_factory=Counter)
    by_stage: Counter = field(default_factory=Counter)  # readers in the course (active or paused)
    by_destination: Counter = field(default_factory=Counter)
    cohorts: list[Cohort] = field(default_factory=list)
    emails: list[Day] = field(default_factory=list)
    failed: int = 0
    checkins_sent: int = 0
    checkins_answered: int = 0
    replies: Counter = field(default_factory=Counter)
    review_waiting: int = 0
    review_oldest: datetime | None = None
    problems: list[Delivery] = field(default_factory=list)

    @property
    def in_course(self) -> int:
        return sum(self.by_status[s] for s in IN_COURSE)

    @property
    def sent(self) -> int:
        return sum(day.sent for day in self.emails)

    def outcome_rate(self, outcome: str) -> float | None:
        return sum(getattr(day, outcome) for day in self.emails) / self.sent if self.sent else None

    @property
    def reply_rate(self) -> float | None:
        return self.checkins_answered / self.checkins_sent if self.checkins_sent else None


def overview(course: Course | None = None, days: int = 30, now: datetime | None = None) -> Overview:
    """The dashboard's figures for the last `days` UTC days: six statements (seven for one course),
    whatever the size.

    Readers, emails and replies by day come from the daily rollup (subscribers.ops.rollup: exact,
    folded or not); the oldest reply waiting for review and the latest problems from their indexes."""
    now = now or timezone.now()
    since = (now - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    result = Overview(course, days, since)
    enrolments, emails, replies = EnrolmentDay.objects.all(), EmailDay.objects.all(), ReplyDay.objects.all()
    deliveries, waiting = Delivery.objects.all(), Reply.objects.filter(status=Reply.Status.REVIEW)
    if course is not None:
        # Lesson ids rather than a join, so the problem index (which carries lesson_id) answers alone.
        lessons = list(course.lessons.values_list("id", flat=True))
        enrolments, emails, replies = enrolments.filter(course=course), emails.filter(lesson_id__in=lessons), (
            replies.filter(course=course))  # fmt: skip
        deliveries = deliveries.filter(lesson_id__in=lessons)
        waiting = waiting.filter(subscriber__course=course)

    _readers(result, enrolments, since, now)
    _emails(result, emails, since)
    rows = replies.filter(day__gte=since.date()).values("status").annotate(n=Sum("replies"))
    result.replies = Counter({row["status"]: row["n"] for row in rows if row["n"]})
    result.review_waiting = replies.filter(status=Reply.Status.REVIEW).aggregate(n=Sum("replies"))["n"] or 0
    result.review_oldest = waiting.order_by("received_at").values_list("received_at", flat=True).first()
    result.problems = list(
        deliveries.filter(PROBLEM)
        .select_related("subscriber", "lesson")
        .only(*PROBLEM_FIELDS)
        .order_by("-created_at", "-id")[:RECENT_PROBLEMS]
    )
    return result


PROBLEM_FIELDS = ("id", "state", "outcome", "outcome_at", "sent_at", "claimed_at", "created_at", "error", "attempts",
                  "subscriber__id", "subscriber__email", "lesson__id", "lesson__slug")  # fmt: skip


def _readers(result: Overview, enrolments: QuerySet, since: datetime, now: datetime) -> None:
    """Status, stage, destination and enrolment cohorts, from readers counted by enrolment day."""
    rows = (
        enrolments.annotate(cohort=TruncMonth("day"))
        .values("cohort", "status", "stage", "destination")
        .annotate(n=Sum("readers"), new=Sum("readers", filter=Q(day__gte=since.date())))
        .order_by("cohort")
    )
    cohorts: dict[date, Cohort] = {}
    for row in rows:
        if not row["n"]:
            continue  # everyone counted here has moved on (not folded yet)
        result.readers += row["n"]
        result.new_readers += row["new"] or 0
        result.by_status[row["status"]] += row["n"]
        if row["status"] in IN_COURSE:
            result.by_stage[row["stage"]] += row["n"]
            result.by_destination[row["destination"]] += row["n"]
        month = row["cohort"].date() if isinstance(row["cohort"], datetime) else row["cohort"]
        cohort = cohorts.get(month)
        if cohort is None:
            middle = datetime(month.year, month.month, 15, tzinfo=now.tzinfo)
            cohort = cohorts[month] = Cohort(month, max(int((now - middle) / COURSE_MONTH) + 1, 1))
        if row["status"] in LEFT:
            cohort.left += row["n"]
        else:
            cohort.by_stage[row["stage"]] += row["n"]
    result.cohorts = list(cohorts.values())[-13:]


def _emails(result: Overview, emails: QuerySet, since: datetime) -> None:
    """Emails per day, failures, and check-ins sent and answered (each once, however many replies)."""
    days = {since.date() + timedelta(days=i): Day(since.date() + timedelta(days=i)) for i in range(result.days)}
    checkin = Q(lesson__kind=Kind.CHECKIN)
    rows = (
        emails.filter(day__gte=since.date())
        .values("day")
        .annotate(
            n_sent=Sum("sent"), n_delivered=Sum("delivered"), n_bounced=Sum("bounced"),
            n_complained=Sum("complained"), n_failed=Sum("failed"), n_checkins=Sum("sent", filter=checkin),
            n_answered=Sum("answered", filter=checkin),
        )
    )  # fmt: skip
    for row in rows:
        result.failed += row["n_failed"]
        result.checkins_sent += row["n_checkins"] or 0
        result.checkins_answered += row["n_answered"] or 0
        day = days.get(row["day"])
        if day is not None:
            day.sent, day.delivered, day.bounced, day.complained = (row["n_sent"], row["n_delivered"],
                                                                    row["n_bounced"], row["n_complained"])  # fmt: skip
    result.emails = list(days.values())


# --- One reader's story ------------------------------------------------------------------------


@dataclass
class Moment:
    """One line of a reader's timeline."""

    at: datetime
    kind: str  # payment, email, reply, change
    title: str
    detail: str = ""
    tone: str = ""  # "", "good", "warn" or "bad"
    link: str = ""


@dataclass
class Timeline:
    subscriber: Subscriber
    moments: list[Moment]
    coming: list[Slot]
    emails: Counter

    @property
    def email_count(self) -> int:
        return sum(self.emails.values())

    @property
    def email_states(self) -> list[tuple[str, int]]:
        return self.emails.most_common()

    @property
    def troubled(self) -> bool:
        return any(self.emails[state] for state in ("bounced", "complained", "failed"))


def timeline(subscriber: Subscriber, now: datetime | None = None) -> Timeline:
    """Everything that happened to a reader, oldest first, and what the planner sends next.

    Payments, every delivery (planned, sent, delivered or bounced, failed), replies with what
    was understood, and every audit row (state and preference changes, enrolment, refunds).
    A fixed number of statements however long the reader's history is.
    """
    moments: list[Moment] = []
    for payment in Payment.objects.filter(subscriber=subscriber):
        moments.append(_payment_moment(payment))
    emails: Counter = Counter()
    for delivery in subscriber.deliveries.select_related("lesson").defer("lesson__course_id"):
        emails[delivery.outcome or delivery.state] += 1
        moments.append(_delivery_moment(delivery))
    for reply in subscriber.replies.defer("raw"):
        moments.append(_reply_moment(reply))
    for event in subscriber.events.all():
        moments.append(_event_moment(event))
    moments.sort(key=lambda moment: moment.at)
    coming: list[Slot] = []
    if subscriber.status in IN_COURSE:
        coming = preview_for(subscriber, weeks=8, now=now)
    return Timeline(subscriber, moments, coming, emails)


def _payment_moment(payment: Payment) -> Moment:
    tone = {"paid": "good", "refunded": "warn", "disputed": "bad", "failed": "bad"}.get(payment.status, "")
    detail = f"{payment.amount_cents / 100:.2f} {payment.currency.upper()} · {payment.payment_intent_id}"
    if payment.note:
        detail += f" · {payment.note}"
    return Moment(payment.created_at, "payment", f"Payment {payment.status}", detail, tone)


def _delivery_moment(delivery: Delivery) -> Moment:
    lesson = delivery.lesson
    at = delivery.sent_at or delivery.claimed_at or delivery.created_at
    state = delivery.outcome or delivery.state
    tone = {"delivered": "good", "bounced": "bad", "complained": "bad", "failed": "bad", "pending": "warn"}.get(
        state, ""
    )
    detail = f"{lesson.kind} · course month {delivery.course_month} · {delivery.reason}"
    if delivery.outcome_at:
        detail += f" · {delivery.outcome} {delivery.outcome_at:%Y-%m-%d %H:%M}"
    if delivery.error:
        detail += f" · {delivery.error.splitlines()[0][:200]}"
    return Moment(at, "email", f"{lesson.slug} ({state})", detail, tone)


def _reply_moment(reply: Reply) -> Moment:
    tone = {"applied": "good", "review": "warn", "ignored": "", "dismissed": ""}.get(reply.status, "")
    read_as = (reply.understood or {}).get("summary", "")
    detail = " · ".join(part for part in (f"“{reply.new_text[:160]}”" if reply.new_text else "", read_as,
                                            reply.reason) if part)  # fmt: skip
    title = f"Reply {reply.get_status_display().lower()}" + (" (undone)" if reply.undone_at else "")
    return Moment(reply.received_at, "reply", title, detail, tone, f"/admin/subscribers/reply/{reply.pk}/change/")


def _event_moment(event: Event) -> Moment:
    change = f"{_plain(event.before)} → {_plain(event.after)}" if event.before or event.after else ""
    detail = " · ".join(part for part in (change, event.why, f"by {event.actor}") if part)
    tone = "bad" if event.what in (Event.What.DELIVERY_FAILED, Event.What.PAYMENT_DISPUTED) else ""
    return Moment(event.at, "change", event.get_what_display(), detail, tone)


def _plain(value) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    return str(value)


# --- Exports --------------------------------------------------------------------------------

READER_COLUMNS = {
    "id": "id", "email": "email", "first_name": "first_name", "course": "course__slug", "status": "status",
    "stage": "stage", "destination": "destination", "profession": "profession", "specialty": "specialty",
    "license_plan": "license_plan", "pay_need": "pay_need", "time_zone": "time_zone", "send_hour": "send_hour",
    "enrolled_at": "enrolled_at", "paused_at": "paused_at", "next_send_at": "next_send_at",
}  # fmt: skip
DELIVERY_COLUMNS = {
    "id": "id", "reader_id": "subscriber_id", "email": "subscriber__email", "course": "lesson__course__slug",
    "lesson": "lesson__slug", "kind": "lesson__kind", "state": "state", "outcome": "outcome", "due_at": "due_at",
    "sent_at": "sent_at", "outcome_at": "outcome_at", "attempts": "attempts", "course_month": "course_month",
    "error": "error",
}  # fmt: skip
# Cells a reader typed; a spreadsheet would run one starting with these as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
EXPORT_CHUNK = 2_000


@dataclass(frozen=True)
class Filters:
    """What an export or the readers page is narrowed to (empty: everything)."""

    course: Course | None = None
    status: str = ""
    stage: str = ""
    destination: str = ""
    since: date | None = None
    until: date | None = None
    search: str = ""

    def readers(self) -> QuerySet:
        rows = Subscriber.objects.all()
        if self.course:
            rows = rows.filter(course=self.course)
        rows = rows.filter(**{k: v for k, v in self._reader_fields().items() if v})
        if self.since:
            rows = rows.filter(enrolled_at__date__gte=self.since)
        if self.until:
            rows = rows.filter(enrolled_at__date__lte=self.until)
        if self.search:
            rows = rows.filter(Q(email__icontains=self.search) | Q(first_name__icontains=self.search))
        return rows

    def deliveries(self) -> QuerySet:
        rows = Delivery.objects.all()
        if self.course:
            rows = rows.filter(lesson__course=self.course)
        rows = rows.filter(**{f"subscriber__{k}": v for k, v in self._reader_fields().items() if v})
        if self.since:
            rows = rows.filter(created_at__date__gte=self.since)
        if self.until:
            rows = rows.filter(created_at__date__lte=self.until)
        if self.search:
            rows = rows.filter(subscriber__email__icontains=self.search)
        return rows

    def _reader_fields(self) -> dict[str, str]:
        return {"status": self.status, "stage": self.stage, "destination": self.destination}


def csv_lines(rows: QuerySet, columns: dict[str, str]) -> Iterator[str]:
    """CSV text, a line at a time, read from the database in chunks: memory stays flat."""
    buffer = _Line()
    writer = csv.writer(buffer)
    yield writer.writerow(list(columns))
    for row in rows.order_by("pk").values_list(*columns.values()).iterator(chunk_size=EXPORT_CHUNK):
        yield writer.writerow([_cell(value) for value in row])


class _Line:
    """A file-like object whose write() returns the line, for csv.writer inside a generator."""

    def write(self, value: str) -> str:
        return value


def _cell(value) -> object:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


# --- Chart inputs -------------------------------------------------------------------------------


def stage_items(counts: Counter, words: Vocabulary | None = None) -> list[tuple[str, int]]:
    """Readers by stage, in the course's own words (the built-in ones across courses)."""
    words = words or builtin_vocabulary()
    return [(f"{stage.number} {stage.label}", counts.get(stage.slug, 0)) for stage in words.stages]


def destination_items(counts: Counter, *vocabularies: Vocabulary) -> list[tuple[str, int]]:
    """Readers by destination: every track of the first vocabulary (the course's own; the built-in
    one by default) and any other track readers are on, labelled by whichever course names it."""
    vocabularies = vocabularies or (builtin_vocabulary(),)
    first = vocabularies[0].destination_values
    slugs = [*first, *sorted(set(counts) - set(first))]

    def label(slug: str) -> str:
        return next((v.destination_label(slug) for v in vocabularies if v.has_destination(slug)), slug)

    return sorted(((label(slug), counts.get(slug, 0)) for slug in slugs), key=lambda item: -item[1])


def cohort_label(cohort: Cohort) -> str:
    """The enrolment month with its year ("Nov 2026 cohort") over the course month
    its readers are in now (past the course's end: "finished")."""
    where = f"in month {cohort.course_month}" if cohort.course_month <= 12 else "finished"
    return f"{cohort.month:%b %Y} cohort\n{where}"


def cohort_series(
    cohorts: Iterable[Cohort], words: Vocabulary | None = None
) -> tuple[list[str], dict[str, list[float]]]:
    """Each cohort's readers as shares: the stages they are at, and those who left."""
    cohorts = list(cohorts)
    labels = [cohort_label(c) for c in cohorts]
    series: dict[str, list[float]] = defaultdict(list)
    for cohort in cohorts:
        total = cohort.readers or 1
        for stage in (words or builtin_vocabulary()).stages:
            series[stage.label].append(round(cohort.by_stage.get(stage.slug, 0) / total * 100, 1))
        series["left the course"].append(round(cohort.left / total * 100, 1))
    return labels, dict(series)
