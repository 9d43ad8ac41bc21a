"""A time-travel simulation of a cohort through the real tick, planner and send path.

Readers enrol over the first four weeks, each with their own time zone, send hour, track and
pace. Check-ins get replies that move them on (through `subscribers.readers.changes`, as real replies
do); some switch track, pause for a few weeks or stop; lessons are published mid-course. The
clock jumps from one due time to the next, so a year takes minutes, not a year. Everything runs
in one transaction that is rolled back at the end unless asked to keep it.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html import escape

from django.db import transaction
from django.db.models import Min
from django.test.utils import override_settings
from django.utils import timezone

from course.models import Course
from course.schedule import MIN_GAP
from course.vocabulary import ANY, Destination, Kind, Stage
from lessons.catalogue import Catalogue
from lessons.importing import add_version
from lessons.models import Lesson
from subscribers.models import Delivery, Subscriber
from subscribers.ops import charts
from subscribers.readers import changes
from subscribers.readers.course_time import clock_of, next_slot_of
from subscribers.readers.enrolment import Intake, enroll
from subscribers.sending import drip

ZONES = ["America/New_York", "America/Chicago", "America/Los_Angeles", "Europe/London", "Europe/Berlin",
         "Asia/Kolkata", "Australia/Sydney"]  # fmt: skip
ACTOR = "simulation"


@dataclass
class Persona:
    """How one simulated reader behaves."""

    pace_weeks: int  # weeks per stage when they reply
    reply_rate: float
    switch_rate: float
    pause_rate: float
    stop_rate: float


@dataclass
class Sent:
    reader: int
    slug: str
    kind: str
    at: datetime
    month: int
    stage: str


@dataclass
class Result:
    readers: int
    months: int
    seed: int
    sent: list[Sent] = field(default_factory=list)
    idle_by_week: Counter = field(default_factory=Counter)
    actions: Counter = field(default_factory=Counter)
    paused: dict[int, list[tuple[datetime, datetime | None]]] = field(default_factory=lambda: defaultdict(list))
    stopped: dict[int, datetime] = field(default_factory=dict)
    slots: dict[int, list[datetime]] = field(default_factory=dict)
    started: datetime | None = None
    published: list[str] = field(default_factory=list)
    violations: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any(self.violations.values())


def simulate(
    course: Course, readers: int, months: int, seed: int, *, start: datetime | None = None, keep: bool = False,
    progress: Callable[[int], None] | None = None,
) -> Result:  # fmt: skip
    """Run the cohort for `months` months of clock time from `start` (default: this hour);
    returns what happened and the checks. The same seed and start give the same run."""
    result = Result(readers, months, seed)
    start = (start or timezone.now()).replace(minute=0, second=0, microsecond=0)
    try:
        with transaction.atomic(), override_settings(EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend"):
            _run(course, result, random.Random(seed), progress, start)
            _check(result)
            if not keep:
                transaction.set_rollback(True)
    finally:
        drip.logger.disabled = False
    return result


def _run(course: Course, result: Result, rng: random.Random, progress, start: datetime) -> None:
    result.started = start
    end = start + timedelta(days=round(months_days(result.months)))
    personas: dict[int, Persona] = {}
    pending: list[tuple[datetime, int, str]] = []  # (when, reader id, action) for resumes and enrolments
    for number in range(result.readers):
        pending.append((start + timedelta(minutes=rng.randrange(0, 28 * 24 * 60)), number, "enrol"))
    publish_at = {
        start + timedelta(days=91): "sim-late-lesson-month-3",
        start + timedelta(days=182): "sim-late-lesson-month-6",
    }
    drip.logger.disabled = True  # "no email this week" lines for thousands of readers are noise here
    now, last_progress = start, 0
    catalogue = Catalogue.load()
    while now < end:
        for when in sorted(w for w in publish_at if w <= now):
            _publish(course, publish_at.pop(when))
            result.published.append(when.isoformat())
            catalogue = Catalogue.load()
        for item in sorted(p for p in pending if p[0] <= now):
            pending.remove(item)
            _, number, action = item
            if action == "enrol":
                intake = _intake(number, rng, course.words.destination_values)
                subscriber = enroll(course, intake, actor=ACTOR, why="simulated enrolment", now=now)
                personas[subscriber.pk] = Persona(rng.randint(5, 16), rng.uniform(0.5, 0.95), 0.05, 0.04, 0.01)
                result.slots[subscriber.pk] = _slots(subscriber, now, end)
            else:
                subscriber = Subscriber.objects.get(pk=number)
                resumed = subscriber.status == Subscriber.Status.PAUSED and changes.resume(
                    subscriber, actor=ACTOR, why="simulated resume", now=now
                )
                if resumed:
                    result.paused[subscriber.pk][-1] = (result.paused[subscriber.pk][-1][0], now)
                    result.actions["resume"] += 1
        report = drip.tick(now=now, queue=False, catalogue=catalogue)
        result.idle_by_week[_week(start, now)] += report.idle
        for delivery_id in report.delivery_ids:
            drip.send_delivery(delivery_id, now=now)
        for delivery in Delivery.objects.filter(pk__in=report.delivery_ids, state=Delivery.State.SENT).select_related(
            "lesson", "subscriber"
        ):
            reader = delivery.subscriber
            if reader.pk not in personas:
                continue  # someone already in the database: ticked too, but not part of the cohort
            result.sent.append(Sent(reader.pk, delivery.lesson.slug, delivery.lesson.kind, now, delivery.course_month,
                                    reader.stage))  # fmt: skip
            if delivery.lesson.kind == Kind.CHECKIN:
                _reply(reader, personas[reader.pk], rng, now, result, pending)
        upcoming = [
            Subscriber.objects.filter(status=Subscriber.Status.ACTIVE).aggregate(t=Min("next_send_at"))["t"],
            *(p[0] for p in pending),
            *publish_at,
        ]
        following = min((t for t in upcoming if t is not None), default=end)
        now = max(following, now + timedelta(minutes=1))
        if progress:
            done = min(int((now - start) / (end - start) * 100), 100)
            progress(done - last_progress)
            last_progress = done


def _reply(reader: Subscriber, persona: Persona, rng: random.Random, now, result: Result, pending) -> None:
    if rng.random() > persona.reply_rate:
        return
    action = rng.random()
    if action < persona.stop_rate:
        changes.stop(reader, actor=ACTOR, why="simulated reply: stop", now=now)
        result.stopped[reader.pk] = now
        result.actions["stop"] += 1
        return
    if action < persona.stop_rate + persona.pause_rate:
        changes.pause(reader, actor=ACTOR, why="simulated reply: pause", now=now)
        result.paused[reader.pk].append((now, None))
        pending.append((now + timedelta(weeks=rng.randint(2, 8)), reader.pk, "resume"))
        result.actions["pause"] += 1
        return
    if action < persona.stop_rate + persona.pause_rate + persona.switch_rate:
        tracks = reader.course.words.destination_values  # the course's own tracks
        destination = rng.choice([d for d in tracks if d != reader.destination])
        changes.change_destination(reader, destination, actor=ACTOR, why="simulated reply: switch", now=now)
        result.actions["switch"] += 1
    weeks_in = clock_of(reader).week(now)
    expected = list(Stage)[min(weeks_in // persona.pace_weeks, len(Stage) - 1)]
    if list(Stage).index(Stage(expected)) > list(Stage).index(Stage(reader.stage)):
        changes.change_stage(reader, expected, actor=ACTOR, why="simulated reply: stage", now=now)
        result.actions["stage"] += 1


def _intake(number: int, rng: random.Random, destinations: list[str] | None = None) -> Intake:
    return Intake(
        email=f"reader{number}@simulation.invalid",
        first_name=f"Reader {number}",
        destination=rng.choice(destinations or Destination.values),
        stage=rng.choice([Stage.DECIDING] * 4 + [Stage.CONVERSATIONS, Stage.SEARCHING]),
        time_zone=rng.choice(ZONES),
        send_hour=rng.choice([6, 7, 8, 9, 12, 18, 20]),
    )


def _publish(course: Course, slug: str) -> None:
    lesson = Lesson.objects.create(course=course, slug=slug, kind=Kind.LESSON, stage=ANY, destinations=[ANY],
                                   month=1, order=15)  # fmt: skip
    add_version(lesson, "A lesson published mid-course", "Hi {{ first_name }},\n\nThis lesson was published later.")


def _slots(subscriber: Subscriber, start: datetime, end: datetime) -> list[datetime]:
    slots, at = [], start
    while at < end + timedelta(weeks=30):
        at = next_slot_of(subscriber, at)
        slots.append(at)
    return slots


def months_days(months: int) -> float:
    return months * 365.25 / 12


def _week(start: datetime, now: datetime) -> int:
    return int((now - start) / timedelta(weeks=1)) + 1


def _check(result: Result) -> None:
    by_reader: dict[int, list[Sent]] = defaultdict(list)
    for item in result.sent:
        by_reader[item.reader].append(item)
    repeats, crowded, to_paused, to_stopped = [], [], [], []
    for reader, items in by_reader.items():
        slugs = [item.slug for item in items]
        if len(slugs) != len(set(slugs)):
            repeats.append(f"reader {reader}: {sorted(s for s, n in Counter(slugs).items() if n > 1)}")
        times = sorted(item.at for item in items)
        for earlier, later in itertools.pairwise(times):
            if later - earlier < MIN_GAP:
                crowded.append(f"reader {reader}: {earlier:%Y-%m-%d %H:%M} and {later:%H:%M}")
        slots = result.slots.get(reader, [])
        windows = Counter(sum(1 for slot in slots if slot <= t) for t in times)
        crowded += [f"reader {reader}: {n} emails in slot {w}" for w, n in windows.items() if n > 1]
        for begin, finish in result.paused.get(reader, []):
            to_paused += [
                f"reader {reader} at {t:%Y-%m-%d}" for t in times if begin < t and (finish is None or t < finish)
            ]
        if reader in result.stopped:
            to_stopped += [f"reader {reader} at {t:%Y-%m-%d}" for t in times if t > result.stopped[reader]]
    result.violations = {
        "no lesson sent twice to a reader": repeats,
        "at most one course email per reader per weekly slot": crowded,
        "no email to a paused reader": to_paused,
        "no email to a stopped reader": to_stopped,
    }


def report_html(result: Result) -> str:
    """One self-contained HTML page: charts (inline SVG) and the invariants checked."""
    months = list(range(1, result.months + 2))
    stage_by_month = {stage.label: [0] * len(months) for stage in Stage}
    seen: set[tuple[int, int]] = set()
    for item in result.sent:
        if (item.reader, item.month) not in seen and item.month <= len(months):
            seen.add((item.reader, item.month))
            stage_by_month[Stage(item.stage).label][item.month - 1] += 1
    weeks = max((_week(result.started, item.at) for item in result.sent), default=1)
    kinds = sorted({item.kind for item in result.sent})
    per_week = {kind: [0] * weeks for kind in kinds}
    for item in result.sent:
        per_week[item.kind][_week(result.started, item.at) - 1] += 1
    readers_per_lesson = Counter(item.slug for item in result.sent).most_common()
    idle = [result.idle_by_week.get(week, 0) for week in range(1, weeks + 1)]
    checks = "".join(
        f"<tr><td>{escape(name)}</td><td class={'ok' if not found else 'bad'}>"
        f"{'passed' if not found else f'{len(found)} violation(s)'}</td>"
        f"<td>{escape('; '.join(found[:5]))}</td></tr>"
        for name, found in result.violations.items()
    )
    actions = ", ".join(f"{name} {count}" for name, count in sorted(result.actions.items())) or "none"
    body = [
        f"<h1>Cohort simulation: {result.readers:,} readers, {result.months} months</h1>",
        f"<p>Seed {result.seed}. {len(result.sent):,} emails sent through the real tick, planner and send path. "
        f"Reader actions by reply: {escape(actions)}. Lessons published mid-course: {len(result.published)}.</p>",
        "<h2>Invariants</h2><table><tr><th>check</th><th>result</th><th>examples</th></tr>" + checks + "</table>",
        "<h2>Where readers are</h2>",
        charts.stacked_bars("Readers by stage in each course month", [f"m{m}" for m in months], stage_by_month),
        "<h2>Emails</h2>",
        charts.stacked_bars("Emails per week, by kind", [str(w) for w in range(1, weeks + 1)], per_week),
        charts.stacked_bars(
            "Gaps: active readers with nothing to send, per week",
            [str(w) for w in range(1, weeks + 1)],
            {"no email that week": idle},
            colors={"no email that week": "#b5495b"},
        ),
        "<h2>Readers per lesson</h2>",
        charts.horizontal_bars("Readers who got each lesson", readers_per_lesson),
    ]
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width, initial-scale=1"><title>Cohort simulation</title><style>'
        "body{font:15px/1.5 system-ui,Arial,sans-serif;color:#1f2933;max-width:900px;margin:24px auto;padding:0 16px}"
        "table{border-collapse:collapse;display:block;max-width:100%;overflow-x:auto}"
        "td,th{border:1px solid #e3ded5;padding:4px 8px;text-align:left;overflow-wrap:break-word}"
        ".ok{color:#1b6e3a;font-weight:bold}.bad{color:#b5495b;font-weight:bold}"
        "svg{margin:8px 0 20px;max-width:100%;height:auto}"
        "</style></head><body>" + "".join(body) + "</body></html>"
    )
