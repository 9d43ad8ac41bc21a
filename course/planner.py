"""Choose the next email: a pure function of plain data, no ORM inside (flow 5).

`next_email(reader, rules, catalogue, history, now)` returns the one email the reader should
get in this weekly slot, or none, with the reason. The rules, in order:

1. **Welcome** first, whenever it has not been sent.
2. **Past the last month** (course month > length): the completion email; once it is sent the
   course is finished.
3. **Landed** readers get the unsent lessons for `landed` that fit their destination (the
   first-90-days series), in order; when none is left, the completion email.
4. **A check-in** when one is due: `checkin_interval_weeks` of course time since the last
   check-in (or since enrolment), or on entering one of the course's check-in months without
   a check-in yet in that month (and at least two weeks after the last one). The check-in sent
   is the unsent one written for the latest month the reader has reached.
5. Otherwise **the first unsent lesson** by (month, order) whose stage is the reader's stage
   or `any`, whose destinations include theirs or `any`, and whose month has come. A reader
   ahead of the calendar counts as being in their stage's usual first month (searching 3,
   interviewing 6) and gets the lessons written for their stage first; a reader behind it keeps
   getting their stage's later lessons (the "stuck" ones), which others never see.
6. When nothing is left for their stage, a **neighbouring stage**: the first unsent lesson for
   the next stage (deciding → conversations → searching → interviewing: a nudge forward), or
   for an interviewing reader the searching lessons (the search goes on while interviewing).
7. Nothing fits → no email this slot.

Course time is counted in weekly slots since the enrolment slot, paused slots excluded
(course.schedule). Lessons are never repeated: `history` holds every lesson
already delivered or in flight, so a destination switch changes the track from the next email
on, and a lesson published later reaches readers mid-course as soon as it fits them. The
caller sends at most one course email per weekly slot.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from course.schedule import CourseClock
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
# Calendar stage by course month: months 1-3 deciding/conversations, 3-6 searching, 6-12 interviewing.
EXPECTED_STAGES = (
    {month: (Stage.DECIDING, Stage.CONVERSATIONS) for month in (1, 2)}
    | {month: (Stage.SEARCHING,) for month in (3, 4, 5)}
    | {month: (Stage.INTERVIEWING,) for month in range(6, 13)}
)
MIN_WEEKS_BETWEEN_CHECKINS = 2
# When a reader's own stage has nothing left, the stage whose lessons come next.
NEIGHBOUR_STAGE = {
    Stage.DECIDING: Stage.CONVERSATIONS,
    Stage.CONVERSATIONS: Stage.SEARCHING,
    Stage.SEARCHING: Stage.INTERVIEWING,
    Stage.INTERVIEWING: Stage.SEARCHING,
}


@dataclass(frozen=True)
class LessonInfo:
    id: int
    slug: str
    kind: str
    stage: str
    destinations: tuple[str, ...]
    month: int
    order: int

    def fits(self, stage: str, destination: str) -> bool:
        return self.stage in (ANY, stage) and (ANY in self.destinations or destination in self.destinations)


@dataclass(frozen=True)
class Rules:
    """The course's settings that shape the schedule."""

    length_months: int = 12
    checkin_interval_weeks: int = 4
    checkin_months: tuple[int, ...] = (3, 6, 9, 12)


@dataclass(frozen=True)
class Reader:
    stage: str
    destination: str
    clock: CourseClock  # course weeks and months, counted in weekly slots (course.schedule)

    def month(self, now: datetime) -> int:
        return self.clock.month(now)

    def week(self, now: datetime) -> int:
        return self.clock.week(now)


@dataclass(frozen=True)
class Sent:
    """A lesson already delivered (or in flight) to the reader, with the course time it went out."""

    lesson_id: int
    kind: str
    course_week: int
    course_month: int


@dataclass(frozen=True)
class Choice:
    lesson: LessonInfo | None
    reason: str
    finished: bool = False
    week: int = 0  # the reader's course week and month at `now`
    month: int = 1

    @property
    def completes_course(self) -> bool:
        return self.lesson is not None and self.lesson.kind == Kind.COMPLETION


def sort_catalogue(lessons: Iterable[LessonInfo]) -> list[LessonInfo]:
    return sorted(lessons, key=lambda lesson: (lesson.month, lesson.order, lesson.slug))


def effective_month(stage: str, month: int) -> int:
    return max(month, STAGE_START_MONTH.get(stage, 1))


def next_email(
    reader: Reader, rules: Rules, catalogue: Sequence[LessonInfo], history: Sequence[Sent], now: datetime
) -> Choice:
    """The reader's email for the slot at `now`; `catalogue` sorted by `sort_catalogue`."""
    month, week = reader.month(now), reader.week(now)
    return replace(_choose(reader, rules, catalogue, history, month, week), week=week, month=month)


def _choose(
    reader: Reader, rules: Rules, catalogue: Sequence[LessonInfo], history: Sequence[Sent], month: int, week: int
) -> Choice:
    sent_ids = {item.lesson_id for item in history}
    unsent = [lesson for lesson in catalogue if lesson.id not in sent_ids]

    welcome = _first(unsent, Kind.WELCOME)
    if welcome is not None:
        return Choice(welcome, "welcome comes first")

    if month > rules.length_months:
        return _completion(unsent, f"course month {month} is past the course's {rules.length_months} months")

    if reader.stage == Stage.LANDED:
        for lesson in unsent:
            if lesson.stage == Stage.LANDED and lesson.fits(reader.stage, reader.destination):
                return Choice(lesson, f"landed: first-90-days {lesson.kind} for {reader.destination}")
        return _completion(unsent, "landed and the first-90-days series is done")

    checkin_reason = _checkin_due(rules, history, week, month)
    if checkin_reason:
        checkin = _checkin_for(unsent, month)
        if checkin is not None:
            return Choice(checkin, checkin_reason)

    lesson_month = effective_month(reader.stage, month)
    ahead = lesson_month > month
    lesson = (ahead and _first_fitting(unsent, reader.stage, reader.destination, lesson_month, stage_only=True)) or (
        _first_fitting(unsent, reader.stage, reader.destination, lesson_month)
    )
    if lesson is not None:
        ahead = " (ahead of the calendar)" if ahead else ""
        behind = " (behind the calendar)" if is_behind(reader.stage, month) else ""
        return Choice(
            lesson,
            f"first unsent lesson for {reader.stage} and {reader.destination} up to month "
            f"{lesson_month}{ahead}{behind}: month {lesson.month}, order {lesson.order}",
        )
    neighbour = NEIGHBOUR_STAGE.get(reader.stage)
    if neighbour is not None:
        lesson = _first_fitting(unsent, neighbour, reader.destination, lesson_month, stage_only=True)
        if lesson is not None:
            return Choice(lesson, f"nothing left for {reader.stage}: a {neighbour} lesson instead")
    return Choice(None, f"nothing unsent fits {reader.stage} and {reader.destination} by month {lesson_month}")


def _first_fitting(
    unsent: Sequence[LessonInfo], stage: str, destination: str, month: int, stage_only: bool = False
) -> LessonInfo | None:
    for lesson in unsent:
        if lesson.kind not in (Kind.LESSON, Kind.MILESTONE) or lesson.month > month:
            continue
        if stage_only and lesson.stage != stage:
            continue
        if lesson.fits(stage, destination):
            return lesson
    return None


def is_behind(stage: str, month: int) -> bool:
    """Behind the calendar: still at a stage earlier than the ones expected this month."""
    expected = EXPECTED_STAGES.get(min(month, 12), (Stage.INTERVIEWING,))
    order = list(Stage)
    return stage != Stage.LANDED and order.index(Stage(stage)) < min(order.index(s) for s in expected)


def _first(lessons: Sequence[LessonInfo], kind: str) -> LessonInfo | None:
    return next((lesson for lesson in lessons if lesson.kind == kind), None)


def _completion(unsent: Sequence[LessonInfo], why: str) -> Choice:
    completion = _first(unsent, Kind.COMPLETION)
    if completion is not None:
        return Choice(completion, f"{why}: completion email")
    return Choice(None, f"{why}, and the completion email was already sent: course finished", finished=True)


def _checkin_due(rules: Rules, history: Sequence[Sent], week: int, month: int) -> str:
    checkins = [item for item in history if item.kind == Kind.CHECKIN]
    last_week = max((item.course_week for item in checkins), default=0)
    if week - last_week >= rules.checkin_interval_weeks:
        since = "enrolment" if not checkins else "the last check-in"
        return f"check-in due: {week - last_week} weeks of course time since {since}"
    if (
        month in rules.checkin_months
        and not any(item.course_month == month for item in checkins)
        and week - last_week >= MIN_WEEKS_BETWEEN_CHECKINS
    ):
        return f"check-in due: month {month} is a check-in month"
    return ""


def _checkin_for(unsent: Sequence[LessonInfo], month: int) -> LessonInfo | None:
    """The unsent check-in written for the latest month reached; else the earliest unsent one."""
    checkins = [lesson for lesson in unsent if lesson.kind == Kind.CHECKIN]
    reached = [lesson for lesson in checkins if lesson.month <= month]
    if reached:
        latest = max(lesson.month for lesson in reached)
        return next(lesson for lesson in reached if lesson.month == latest)
    return checkins[0] if checkins else None
