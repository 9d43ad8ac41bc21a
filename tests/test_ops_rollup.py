"""The dashboard's daily rollup (subscribers.ops.rollup): every figure the same as counting the
deliveries, replies and readers themselves (the dashboard's queries before the rollup, kept here
as the reference), before and after a fold and a rebuild, when sends, outcomes and replies arrive
late and readers change, at a month end, a year end and the default instant."""

from __future__ import annotations

import io
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.db.models import Count, Min, Q
from django.db.models.functions import TruncDate, TruncMonth
from django.utils import timezone

from config.celery import app
from course.schedule import COURSE_MONTH
from course.vocabulary import Kind
from lessons.models import Lesson
from subscribers.models import Delivery, EmailDay, EnrolmentDay, Reply, ReplyDay, Subscriber
from subscribers.ops import reports, rollup
from subscribers.ops.reports import IN_COURSE, LEFT, PROBLEM, PROBLEM_FIELDS, RECENT_PROBLEMS, Cohort, Day, Overview
from subscribers.readers import changes
from tests.conftest import MONDAY_FEB_23, enrol
from tests.course_history import course_history

INSTANTS = {
    "default": MONDAY_FEB_23,
    "month-end": datetime(2026, 3, 31, 23, 30, tzinfo=UTC),
    "year-end": datetime(2026, 12, 31, 23, 30, tzinfo=UTC),
    "new-year": datetime(2027, 1, 1, 0, 30, tzinfo=UTC),
}


# --- The reference: the dashboard's queries over the source rows, as they were ----------------


def counted(course=None, days: int = 30, now: datetime | None = None) -> Overview:
    now = now or timezone.now()
    since = (now - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    result = Overview(course, days, since)
    readers, deliveries, replies = Subscriber.objects.all(), Delivery.objects.all(), Reply.objects.all()
    if course is not None:
        readers = readers.filter(course=course)
        deliveries = deliveries.filter(lesson_id__in=list(course.lessons.values_list("id", flat=True)))
        replies = replies.filter(subscriber__course=course)
    rows = (
        readers.annotate(cohort=TruncMonth("enrolled_at"))
        .values("cohort", "status", "stage", "destination")
        .annotate(n=Count("id"), new=Count("id", filter=Q(enrolled_at__gte=since)))
        .order_by("cohort")
    )
    cohorts: dict[date, Cohort] = {}
    for row in rows:
        result.readers += row["n"]
        result.new_readers += row["new"]
        result.by_status[row["status"]] += row["n"]
        if row["status"] in IN_COURSE:
            result.by_stage[row["stage"]] += row["n"]
            result.by_destination[row["destination"]] += row["n"]
        month = row["cohort"].date() if isinstance(row["cohort"], datetime) else row["cohort"]
        if month not in cohorts:
            middle = datetime(month.year, month.month, 15, tzinfo=now.tzinfo)
            cohorts[month] = Cohort(month, max(int((now - middle) / COURSE_MONTH) + 1, 1))
        if row["status"] in LEFT:
            cohorts[month].left += row["n"]
        else:
            cohorts[month].by_stage[row["stage"]] += row["n"]
    result.cohorts = list(cohorts.values())[-13:]
    days_ = {since.date() + timedelta(days=i): Day(since.date() + timedelta(days=i)) for i in range(days)}
    for row in (
        deliveries.filter(sent_at__gte=since).annotate(day=TruncDate("sent_at")).values("day").annotate(n=Count("id"))
    ):
        if row["day"] in days_:
            days_[row["day"]].sent = row["n"]
    outcomes = (
        deliveries.filter(outcome_at__gte=since)
        .exclude(outcome="")
        .annotate(day=TruncDate("outcome_at"))
        .values("day", "outcome")
        .annotate(n=Count("id"))
    )
    for row in outcomes:
        if row["day"] in days_ and row["outcome"] in rollup.OUTCOMES:
            setattr(days_[row["day"]], row["outcome"], row["n"])
    result.emails = list(days_.values())
    result.failed = deliveries.filter(state=Delivery.State.FAILED, created_at__gte=since).count()
    checkins = deliveries.filter(lesson__kind=Kind.CHECKIN, sent_at__gte=since).aggregate(
        sent=Count("id", distinct=True), answered=Count("replies__delivery_id", distinct=True)
    )
    result.checkins_sent, result.checkins_answered = checkins["sent"], checkins["answered"]
    rows = replies.filter(received_at__gte=since).values("status").annotate(n=Count("id"))
    result.replies = Counter({row["status"]: row["n"] for row in rows})
    waiting = replies.filter(status=Reply.Status.REVIEW).aggregate(n=Count("id"), oldest=Min("received_at"))
    result.review_waiting, result.review_oldest = waiting["n"], waiting["oldest"]
    result.problems = list(
        deliveries.filter(PROBLEM).select_related("subscriber", "lesson").only(*PROBLEM_FIELDS)
        .order_by("-created_at", "-id")[:RECENT_PROBLEMS]
    )  # fmt: skip
    return result


def assert_same_figures(courses, moment: str) -> int:
    """Every figure of every view (all courses and each, 7, 30 and 90 days) both ways."""
    compared = 0
    for course in [None, *courses]:
        for days in (7, 30, 90):
            expected, got = counted(course, days), reports.overview(course, days)
            label = f"{moment}, {course.slug if course else 'all courses'}, {days} days"
            for name, value in vars(expected).items():
                assert getattr(got, name) == value, f"{label}: {name}"
            compared += 1
    return compared


# --- Seeded data, then everything that arrives late or changes --------------------------------


def late_and_changed(course, other, now: datetime) -> None:
    """What the send path, the ESP's webhooks, replies and readers do to days already counted."""
    lessons = list(Lesson.objects.filter(course=course).select_related("current_version").order_by("month", "order"))
    checkin = next(lesson for lesson in lessons if lesson.kind == Kind.CHECKIN)
    sent = Delivery.objects.filter(lesson__course=course, sent_at__isnull=False).order_by("sent_at")
    # A bounce arriving now for an email sent three weeks ago; a delivery reported with the ESP's older stamp.
    old = sent.filter(sent_at__lt=now - timedelta(days=21)).last()
    Delivery.objects.filter(pk=old.pk).update(outcome="bounced", outcome_at=now)
    older = sent.filter(sent_at__lt=now - timedelta(days=40)).last()
    Delivery.objects.filter(pk=older.pk).update(outcome="complained", outcome_at=now - timedelta(days=39, hours=3))
    # A soft bounce then delivered, and a delivery's outcome taken back.
    recent = sent.filter(sent_at__gte=now - timedelta(days=5)).first()
    Delivery.objects.filter(pk=recent.pk).update(outcome="soft-bounced", outcome_at=now - timedelta(hours=2))
    Delivery.objects.filter(pk=recent.pk).update(outcome="delivered", outcome_at=now - timedelta(hours=1))
    # Readers at the edges of a day, a month and a year (enrolled at 23:59:59.999999 and 00:00).
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    first_of_month = midnight.replace(day=1)
    edge_readers = [
        enrol(course, f"edge{n}@example.com", now=at)
        for n, at in enumerate([first_of_month - timedelta(microseconds=1), first_of_month, midnight,
                                midnight - timedelta(microseconds=1), now - timedelta(days=6, hours=23, minutes=59)])
    ]  # fmt: skip
    # Sends recorded late: planned ten days ago, the journal recorded at 23:59:59 nine days ago;
    # one failing for good after its retries, one recorded at the first instant of today.
    for n, reader in enumerate(edge_readers):
        lesson = lessons[n + 1]
        delivery = Delivery.objects.create(
            subscriber=reader, lesson=lesson, version=lesson.current_version, due_at=now - timedelta(days=10),
            created_at=now - timedelta(days=10), state="pending",
        )  # fmt: skip
        if n == 0:
            Delivery.objects.filter(pk=delivery.pk).update(state="failed", attempts=5, error="550")
        else:
            at = (midnight - timedelta(days=9, microseconds=1)) if n % 2 else midnight
            Delivery.objects.filter(pk=delivery.pk).update(state="sent", sent_at=at, claimed_at=at)
    # Replies to check-ins sent long ago: a first one, a second one to an answered check-in, two at once.
    checkins = Delivery.objects.filter(lesson=checkin, sent_at__gte=now - timedelta(days=80),
                                       sent_at__lt=now - timedelta(days=8)).order_by("sent_at")  # fmt: skip
    unanswered = list(checkins.filter(replies__isnull=True)[:3])
    answered = checkins.filter(replies__isnull=False).first()
    Reply.objects.create(subscriber=unanswered[0].subscriber, delivery=unanswered[0], message_id="<late1@x>",
                         raw="", status="applied", received_at=now - timedelta(hours=3))  # fmt: skip
    Reply.objects.create(subscriber=answered.subscriber, delivery=answered, message_id="<late2@x>", raw="",
                         status="review", received_at=now - timedelta(minutes=30))  # fmt: skip
    Reply.objects.bulk_create([
        Reply(subscriber=unanswered[1].subscriber, delivery=unanswered[1], message_id=f"<pair{n}@x>", raw="",
              status="ignored", received_at=now - timedelta(days=2)) for n in range(2)
    ])  # fmt: skip
    # A reply from nobody we know; one matched to its check-in later; one moved to another check-in.
    Reply.objects.create(message_id="<stranger@x>", raw="", status="ignored", received_at=now - timedelta(days=1))
    matched = Reply.objects.create(subscriber=unanswered[2].subscriber, message_id="<later@x>", raw="",
                                   status="received", received_at=now - timedelta(days=3))  # fmt: skip
    Reply.objects.filter(pk=matched.pk).update(delivery=unanswered[2], status="applied")
    moved = Reply.objects.filter(delivery=unanswered[1]).first()
    Reply.objects.filter(pk=moved.pk).update(delivery=unanswered[0])
    # Review resolved; a reply deleted; every reply of one check-in deleted at once.
    Reply.objects.filter(status="review").order_by("pk").first().delete()
    Reply.objects.filter(status="review").update(status="applied")
    Reply.objects.filter(delivery=answered).delete()
    # Readers change: the domain's own moves, a bulk update, a reader erased, one moved to another course.
    active = list(Subscriber.objects.filter(course=course, status="active").order_by("pk")[:4])
    changes.pause(active[0], actor="test", why="test")
    changes.change_stage(active[1], "interviewing", actor="test", why="test")
    changes.suppress(active[2], actor="test", why="test")
    Subscriber.objects.filter(course=course, status="paused").exclude(pk=active[0].pk).update(destination="payer")
    Subscriber.objects.get(pk=active[3].pk).delete()
    mover = Reply.objects.filter(subscriber__course=course).exclude(subscriber=None).first().subscriber
    Subscriber.objects.filter(pk=mover.pk).update(course=other)
    # A delivery deleted (an admin clearing a mistake).
    Delivery.objects.filter(pk=sent.filter(sent_at__gte=now - timedelta(days=3)).first().pk).delete()


@pytest.mark.parametrize("instant", list(INSTANTS.values()), ids=list(INSTANTS))
def test_the_rollup_gives_the_figures_counting_gives(checkin_course, course, instant):
    with time_machine.travel(instant, tick=False):
        now = timezone.now()
        course_history(checkin_course, 60, now=now)
        course_history(course, 20, start=60, now=now)
        courses = [checkin_course, course]
        assert EmailDay.objects.filter(pending=True).exists()  # the triggers counted the seeding
        assert_same_figures(courses, "seeded, not folded")
        assert rollup.fold() > 0
        assert not EmailDay.objects.filter(pending=True).exists()
        assert_same_figures(courses, "folded")

        late_and_changed(checkin_course, course, now)
        assert EmailDay.objects.filter(pending=True).exists() and EnrolmentDay.objects.filter(pending=True).exists()
        assert_same_figures(courses, "late and changed, not folded")
        rollup.fold()
        assert_same_figures(courses, "late and changed, folded")
        # Folding leaves one row per key, and none that came to zero.
        assert not EnrolmentDay.objects.filter(readers=0).exists()
        assert not ReplyDay.objects.filter(pending=False, replies=0).exists()

        # Wrong rollup rows (a bug, a restore from an old backup): the rebuild puts them right.
        EmailDay.objects.filter(pk__in=EmailDay.objects.values("pk")[:5]).update(sent=999)
        ReplyDay.objects.all().delete()
        EnrolmentDay.objects.create(day=date(2020, 1, 1), course=course, status="active", stage="deciding",
                                    destination="payer", readers=3)  # fmt: skip
        out, err = io.StringIO(), io.StringIO()
        call_command("rebuild_daily_figures", stdout=out, stderr=err)
        assert "EmailDay" in out.getvalue() and "steps" in err.getvalue() + out.getvalue()
        assert_same_figures(courses, "rebuilt")

        # A day later the windows have moved on; the rollup still agrees.
        with time_machine.travel(now + timedelta(days=1), tick=False):
            assert_same_figures(courses, "a day later")


def test_the_dashboard_shows_the_rollups_figures_and_a_check_in_answered_twice_counts_once(checkin_course, client):
    from tests.conftest import operator, send_checkin

    client.force_login(operator())
    carol = enrol(checkin_course, "carol@example.com", first_name="Carol")
    checkin = send_checkin(carol)
    Reply.objects.bulk_create(
        [Reply(subscriber=carol, delivery=checkin, message_id=f"<r{n}@x>", raw="", status="applied") for n in range(3)]
    )
    rollup.fold()
    Reply.objects.create(subscriber=carol, delivery=checkin, message_id="<r4@x>", raw="", status="applied")
    rows = EmailDay.objects.filter(lesson=checkin.lesson).values_list("sent", "answered", "pending")
    assert list(rows) == [(1, 1, False)]  # the fourth reply added nothing
    page = client.get("/ops/").content.decode()
    assert "check-ins answered (1 of 1)" in page
    Reply.objects.filter(delivery=checkin).delete()
    assert reports.overview(checkin_course).checkins_answered == 0


def test_a_missing_trigger_is_put_back_and_the_rollup_rebuilt_after_migrate(checkin_course):
    course_history(checkin_course, 10)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("DROP TRIGGER subscribers_rollup_delivery_insert ON subscribers_delivery")
        else:
            cursor.execute("DROP TRIGGER subscribers_rollup_delivery_insert")
    assert "subscribers_rollup_delivery_insert" not in rollup.installed()
    course_history(checkin_course, 10, start=10)  # uncounted: the trigger is gone
    assert reports.overview(checkin_course).sent != counted(checkin_course).sent
    assert rollup.after_migrate() == "rebuilt"
    assert "subscribers_rollup_delivery_insert" in rollup.installed()
    assert_same_figures([checkin_course], "after migrate")
    assert rollup.after_migrate() == "checked"


def test_the_fold_runs_on_beat_every_tick(settings):
    schedule = app.conf.beat_schedule["rollup-fold-every-tick"]
    assert schedule["task"] == "subscribers.tasks.fold_daily_figures"
    assert schedule["schedule"] == settings.DRIP_TICK_SECONDS
    app.loader.import_default_modules()
    assert "subscribers.tasks.fold_daily_figures" in app.tasks


def test_dashboard_statements_do_not_grow_with_the_rollup(checkin_course):
    from django.test.utils import CaptureQueriesContext

    counts = []
    for start in (0, 30):
        course_history(checkin_course, 30, start=start)
        for course in (None, checkin_course):
            with CaptureQueriesContext(connection) as queries:
                reports.overview(course, days=90)
            counts.append(len(queries))
    assert counts == [6, 7, 6, 7]
