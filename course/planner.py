"""Choose the next email: a pure function of plain data, no ORM inside (flow 5).

`next_email(reader, rules, catalogue, history, now)` returns the one email the reader should
get in this weekly slot, or none, with the reason. The rules, in order:

1. **Welcome** first, whenever it has not been sent.
2. **Past the last month** (course month > length): the completion email; once it is sent the
   course is finished.
3. **Landed** readers get the lessons for `landed` that fit them (the first-90-days series)
   spread over 12 weeks (the n-th of N no sooner than n/(N-1) of the way); an "is it working?"
   check-in about 4 and 8 weeks after they landed; lessons for any stage to fill the weeks between;
   and the completion email once 13 weeks (about 90 days) have passed since they landed.
4. **A check-in** when one is due: `checkin_interval_weeks` of course time since the last check-in,
   since enrolment, or since the reader last told us their stage (a reply that changes the stage
   resets the interval), and never within MIN_WEEKS_BETWEEN_CHECKINS of the last one. Check-ins go
   out in the order they are written: the first one a reader gets is the first one.
5. **Where the reader is.** A reader who has told us their stage (a reply, the preferences page)
   is at that stage. One who has not follows the calendar (COURSE.md timeline): months 1-2 their
   starting stage, then conversations, months 3-5 searching, 6-12 interviewing. Silence is not
   being stuck: only a reader who *told us* a stage behind the calendar gets that stage's later
   ("stuck") lessons.
6. **Stage-triggered lessons**: a reader who reported a stage gets the unsent lessons triggered by
   it (e.g. negotiation and offers on `interviewing`) next, whatever their month.
7. **Essential lessons** that fit the reader (stage `any` or one they have reached) come ahead of
   ordinary ones from their month on, soonest deadline (`essential_by`) first, so each arrives by
   its month.
8. Otherwise **the first unsent lesson** by (month, order) whose stage is the reader's or `any`,
   whose targeting fits them, and whose month has come. A reader ahead of the calendar counts as
   being in their stage's usual first month (searching 3, interviewing 6) and gets the lessons
   written for their stage first.
9. When nothing is left for their stage, a **neighbouring stage**: the first unsent lesson for
   the next stage, and the one after (deciding → conversations → searching → interviewing: a
   nudge forward), or for an interviewing reader the searching lessons (the search goes on while
   interviewing).
10. Nothing fits → no email this slot.

Targeting (`LessonInfo.targets`): a lesson's destinations (or `any`), minus `not_for`, and its
professions, license plans and pay needs (each a list or `any`) must include the reader's.
Course time is counted in weekly slots since the enrolment slot, paused slots excluded
(course.schedule). Lessons are never repeated: `history` holds every lesson already delivered or
in flight, so a destination switch changes the track from the next email on, and a lesson
published later reaches readers mid-course as soon as it fits them. The caller sends at most one
course email per weekly slot.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import NamedTuple

from course.schedule import CourseClock, month_of_week
from course.vocabulary import ANY, Kind, Stage

# The month a stage usually starts (COURSE.md timeline): a reader who reaches a stage earlier
# is treated as being in this month for choosing lessons.
STAGE_START_MONTH = {
    Stage.DECIDING: 1,
    Stage.CONVERSATIONS: 1,
    Stage.SEARCHING: 3,
    Stage.INTERVIEWING: 6,
    Stage.LANDED: 1,
}
# The calendar's stage by course month, for a reader who has not told us where they are:
# months 1-3 deciding and conversations, 3-6 searching, 6-12 interviewing.
CALENDAR_STAGE = (
    {1: Stage.DECIDING, 2: Stage.CONVERSATIONS}
    | {month: Stage.SEARCHING for month in (3, 4, 5)}
    | {month: Stage.INTERVIEWING for month in range(6, 13)}
)
STAGE_RANK = {stage: rank for rank, stage in enumerate(Stage)}
MIN_WEEKS_BETWEEN_CHECKINS = 4
# A landed reader: "is it working?" check-ins this many weeks after landing; completion after the last.
LANDED_CHECKIN_WEEKS = (4, 8)
LANDED_WEEKS = 13
# When a reader's own stage has nothing left, the stage whose lessons come next.
NEIGHBOUR_STAGE = {
    Stage.DECIDING: Stage.CONVERSATIONS,
    Stage.CONVERSATIONS: Stage.SEARCHING,
    Stage.SEARCHING: Stage.INTERVIEWING,
    Stage.INTERVIEWING: Stage.SEARCHING,
}
EVERYONE = (ANY,)


@dataclass(frozen=True)
class LessonInfo:
    id: int
    slug: str
    kind: str
    stage: str
    destinations: tuple[str, ...]
    month: int
    order: int
    professions: tuple[str, ...] = EVERYONE
    license_plans: tuple[str, ...] = EVERYONE
    pay_needs: tuple[str, ...] = EVERYONE
    not_for: tuple[str, ...] = ()
    essential_by: int | None = None
    trigger_stage: str = ""

    @cached_property
    def teaches(self) -> bool:
        """A lesson or milestone (not a welcome, check-in or completion)."""
        return self.kind in (Kind.LESSON, Kind.MILESTONE)

    @cached_property
    def stuck(self) -> bool:
        """Written for a stage the calendar has left behind by its month (e.g. searching in month 8)."""
        return self.stage not in (ANY, Stage.LANDED) and is_behind(self.stage, self.month)

    def targets(self, reader: Reader) -> bool:
        """The lesson's targeting includes the reader's destination and profile."""
        return (
            _includes(self.destinations, reader.destination)
            and reader.destination not in self.not_for
            and _includes(self.professions, reader.profession)
            and _includes(self.license_plans, reader.license_plan)
            and _includes(self.pay_needs, reader.pay_need)
        )

    def fits(self, stage: str, reader: Reader) -> bool:
        return self.stage in (ANY, stage) and self.targets(reader)


def _includes(allowed: tuple[str, ...], value: str) -> bool:
    return ANY in allowed or value in allowed


@dataclass(frozen=True)
class Rules:
    """The course's settings that shape the schedule."""

    length_months: int = 12
    checkin_interval_weeks: int = 6
    checkin_months: tuple[int, ...] = ()


@dataclass(frozen=True)
class Reader:
    stage: str
    destination: str
    clock: CourseClock  # course weeks and months, counted in weekly slots (course.schedule)
    profession: str = ""
    license_plan: str = "unsure"
    pay_need: str = "unsure"
    reported_week: int | None = None  # the course week the reader last told us their stage; None: never

    def month(self, now: datetime) -> int:
        return self.clock.month(now)

    def week(self, now: datetime) -> int:
        return self.clock.week(now)

    @property
    def reported(self) -> bool:
        return self.reported_week is not None

    def planning_stage(self, month: int) -> str:
        """The stage lessons are chosen for: what the reader told us, or the calendar's (rule 5)."""
        if self.reported or self.stage == Stage.LANDED:
            return self.stage
        calendar = CALENDAR_STAGE.get(min(month, 12), Stage.INTERVIEWING)
        return max(Stage(self.stage), calendar, key=STAGE_RANK.__getitem__)


class Sent(NamedTuple):
    """A lesson already delivered (or in flight) to the reader, with the course time it went out."""

    lesson_id: int
    kind: str
    course_week: int
    course_month: int


class History(NamedTuple):
    """What the planner reads of a reader's past: every lesson delivered or in flight, and the
    check-ins among them with their course time (the only ones whose timing matters). The tick
    builds one per due reader straight from its history query."""

    sent: frozenset[int]
    checkins: tuple[Sent, ...] = ()

    @classmethod
    def of(cls, items: Iterable[Sent]) -> History:
        items = list(items)
        return cls(frozenset(item.lesson_id for item in items), tuple(i for i in items if i.kind == Kind.CHECKIN))


NOTHING_SENT = History(frozenset())


class Choice(NamedTuple):
    lesson: LessonInfo | None
    reason: str
    finished: bool = False
    week: int = 0  # the reader's course week and month at `now`
    month: int = 1

    @property
    def completes_course(self) -> bool:
        return self.lesson is not None and self.lesson.kind == Kind.COMPLETION


class Lessons(tuple):
    """A course's lessons sorted for the planner (`sort_catalogue`), with the groups each rule
    looks at worked out once per catalogue rather than once per reader."""

    def __new__(cls, lessons: Iterable[LessonInfo] = ()) -> Lessons:
        self = super().__new__(cls, lessons)
        teaching = tuple(lesson for lesson in self if lesson.teaches)
        checkins = [lesson for lesson in self if lesson.kind == Kind.CHECKIN]
        self.welcomes = tuple(lesson for lesson in self if lesson.kind == Kind.WELCOME)
        self.completions = tuple(lesson for lesson in self if lesson.kind == Kind.COMPLETION)
        self.checkins = tuple(lesson for lesson in checkins if lesson.stage != Stage.LANDED)
        self.landed_checkins = tuple(lesson for lesson in checkins if lesson.stage == Stage.LANDED)
        self.landed_series = tuple(lesson for lesson in teaching if lesson.stage == Stage.LANDED)
        # Essential lessons in deadline order (rule 7), stage-triggered ones by stage (rule 6), and the
        # teaching lessons for a stage or `any` (rule 8) and for that stage alone (rules 3, 8 and 9).
        deadline = lambda lesson: (lesson.essential_by, lesson.month, lesson.order)  # noqa: E731
        self.essentials = tuple(sorted((lesson for lesson in teaching if lesson.essential_by is not None
                                        and lesson.stage != Stage.LANDED), key=deadline))  # fmt: skip
        self.triggered = {stage: tuple(lesson for lesson in teaching if lesson.trigger_stage == stage)
                          for stage in Stage}  # fmt: skip
        self.for_stage = {stage: tuple(lesson for lesson in teaching if lesson.stage in (ANY, stage))
                          for stage in Stage}  # fmt: skip
        self.of_stage = {stage: tuple(lesson for lesson in teaching if lesson.stage == stage)
                         for stage in (*Stage, ANY)}  # fmt: skip
        return self


def sort_catalogue(lessons: Iterable[LessonInfo]) -> Lessons:
    return Lessons(sorted(lessons, key=lambda lesson: (lesson.month, lesson.order, lesson.slug)))


def effective_month(stage: str, month: int) -> int:
    return max(month, STAGE_START_MONTH.get(stage, 1))


def next_email(
    reader: Reader,
    rules: Rules,
    catalogue: Sequence[LessonInfo],
    history: History | Iterable[Sent],
    now: datetime,
) -> Choice:
    """The reader's email for the slot at `now`; `catalogue` sorted by `sort_catalogue`."""
    week = reader.week(now)
    month = month_of_week(week)
    lessons = catalogue if isinstance(catalogue, Lessons) else sort_catalogue(catalogue)
    past = history if isinstance(history, History) else History.of(history)
    return _choose(reader, rules, lessons, past, month, week)._replace(week=week, month=month)


def _choose(reader: Reader, rules: Rules, lessons: Lessons, history: History, month: int, week: int) -> Choice:
    sent = history.sent

    welcome = _unsent(lessons.welcomes, sent)
    if welcome is not None:
        return Choice(welcome, "welcome comes first")

    if month > rules.length_months:
        return _completion(lessons, sent, f"course month {month} is past the course's {rules.length_months} months")

    if reader.stage == Stage.LANDED:
        return _landed(reader, lessons, history, week)

    checkin_reason = _checkin_due(reader, rules, history, week, month)
    if checkin_reason:
        checkin = _unsent(lessons.checkins, sent, reader)
        if checkin is not None:
            return Choice(checkin, checkin_reason)

    stage = reader.planning_stage(month)
    calendar = "" if reader.reported else f" (following the calendar: {stage})"
    if reader.reported:
        triggered = _unsent(lessons.triggered.get(stage, ()), sent, reader)
        if triggered is not None:
            return Choice(triggered, f"you told us you are {stage}: {triggered.slug} comes next")

    essential = _essential(lessons, sent, reader, stage, month)
    if essential is not None:
        return Choice(essential, f"essential by month {essential.essential_by}: ahead of other lessons{calendar}")

    lesson_month = effective_month(stage, month)
    ahead = lesson_month > month
    stuck = reader.reported and is_behind(stage, lesson_month)
    lesson = (ahead and _first_fitting(lessons.of_stage[stage], sent, reader, lesson_month, stuck)) or (
        _first_fitting(lessons.for_stage[stage], sent, reader, lesson_month, stuck)
    )
    if lesson is not None:
        ahead = " (ahead of the calendar)" if ahead else ""
        behind = " (behind the calendar)" if reader.reported and is_behind(stage, month) else ""
        return Choice(
            lesson,
            f"first unsent lesson for {stage} and {reader.destination} up to month "
            f"{lesson_month}{ahead}{behind}{calendar}: month {lesson.month}, order {lesson.order}",
        )
    neighbour, hops = NEIGHBOUR_STAGE.get(stage), 0
    while neighbour is not None and hops < 2:
        hops += 1
        # While interviewing the search goes on, including its lessons for a search that stalls.
        stuck = is_behind(neighbour if stage == Stage.INTERVIEWING else stage, lesson_month)
        lesson = _first_fitting(lessons.of_stage[neighbour], sent, reader, lesson_month, stuck)
        if lesson is not None:
            return Choice(lesson, f"nothing left for {stage}: a {neighbour} lesson instead")
        neighbour = NEIGHBOUR_STAGE.get(neighbour) if neighbour != Stage.INTERVIEWING else None
    return Choice(None, f"nothing unsent fits {stage} and {reader.destination} by month {lesson_month}")


def _unsent(lessons: Iterable[LessonInfo], sent: frozenset[int], reader: Reader | None = None) -> LessonInfo | None:
    """The first of `lessons` not yet sent (and, given a reader, whose targeting includes them)."""
    for lesson in lessons:
        if lesson.id not in sent and (reader is None or lesson.targets(reader)):
            return lesson
    return None


def _first_fitting(
    candidates: Sequence[LessonInfo], sent: frozenset[int], reader: Reader, month: int, stuck: bool
) -> LessonInfo | None:
    """The first unsent lesson of `candidates` (teaching lessons of the stage looked at, in
    catalogue order) up to `month`; "stuck" lessons only when `stuck` (the reader told us they are
    behind, or a neighbouring stage is looked at for them: rule 5)."""
    for lesson in candidates:
        if lesson.month > month:
            break  # sorted by month: nothing later fits either
        if lesson.id in sent or (lesson.stuck and not stuck):
            continue
        if lesson.targets(reader):
            return lesson
    return None


def _essential(lessons: Lessons, sent: frozenset[int], reader: Reader, stage: str, month: int) -> LessonInfo | None:
    """The unsent essential lesson with the soonest deadline that fits the reader now (rule 7);
    `lessons.essentials` is in deadline order."""
    reached = STAGE_RANK[stage]
    for lesson in lessons.essentials:
        if (
            lesson.month > month
            or lesson.id in sent
            or (lesson.stage != ANY and STAGE_RANK.get(lesson.stage, reached + 1) > reached)
        ):
            continue
        if lesson.targets(reader):
            return lesson
    return None


def _landed(reader: Reader, lessons: Lessons, history: History, week: int) -> Choice:
    """Rule 3: the first-90-days series, two "is it working?" check-ins, then completion."""
    sent = history.sent
    landed_week = reader.reported_week if reader.reported_week is not None else week
    since = week - landed_week
    after_landing = sum(1 for item in history.checkins if item.course_week >= landed_week)
    last_checkin = max((item.course_week for item in history.checkins), default=None)
    spaced = last_checkin is None or week - last_checkin >= MIN_WEEKS_BETWEEN_CHECKINS
    if after_landing < len(LANDED_CHECKIN_WEEKS) and since >= LANDED_CHECKIN_WEEKS[after_landing] and spaced:
        checkin = _unsent(lessons.landed_checkins, sent, reader)
        if checkin is not None:
            return Choice(checkin, f"landed {since} weeks ago: is it working?")
    series = [lesson for lesson in lessons.landed_series if lesson.targets(reader)]
    for number, lesson in enumerate(series):
        # Spread over the first 90 days: the n-th of the series no sooner than its share of 12 weeks.
        earliest = round(number * (LANDED_WEEKS - 1) / max(len(series) - 1, 1))
        if lesson.id not in sent and since >= earliest:
            return Choice(lesson, f"landed {since} weeks ago: first-90-days {lesson.kind} for {reader.destination}")
    if since < LANDED_WEEKS:
        lesson = _unsent(lessons.of_stage[ANY], sent, reader)
        if lesson is not None:
            return Choice(lesson, f"landed {since} weeks ago: a lesson for any stage until day 90")
        return Choice(None, f"landed {since} weeks ago: nothing left before day 90")
    return _completion(lessons, sent, f"landed {since} weeks ago and the first-90-days series is done")


def is_behind(stage: str, month: int) -> bool:
    """Behind the calendar: at a stage earlier than the calendar's for this month."""
    calendar = CALENDAR_STAGE.get(min(month, 12), Stage.INTERVIEWING)
    return stage != Stage.LANDED and STAGE_RANK[stage] < STAGE_RANK[calendar]


def _completion(lessons: Lessons, sent: frozenset[int], why: str) -> Choice:
    completion = _unsent(lessons.completions, sent)
    if completion is not None:
        return Choice(completion, f"{why}: completion email")
    return Choice(None, f"{why}, and the completion email was already sent: course finished", finished=True)


def _checkin_due(reader: Reader, rules: Rules, history: History, week: int, month: int) -> str:
    checkins = history.checkins
    last_checkin = max((item.course_week for item in checkins), default=None)
    if last_checkin is not None and week - last_checkin < MIN_WEEKS_BETWEEN_CHECKINS:
        return ""
    since, what = last_checkin or 0, "the last check-in" if checkins else "enrolment"
    if reader.reported_week is not None and reader.reported_week > since:
        since, what = reader.reported_week, "you last told us your stage"
    if week - since >= rules.checkin_interval_weeks:
        return f"check-in due: {week - since} weeks of course time since {what}"
    if month in rules.checkin_months and not any(item.course_month == month for item in checkins):
        return f"check-in due: month {month} is a check-in month"
    return ""
