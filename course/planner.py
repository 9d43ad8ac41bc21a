"""Choose the next email: a pure function of plain data, no ORM inside (flow 5).

The rule, in order:
1. the welcome, if it has not been sent;
2. after the course's last month, the completion email (then the reader is completed);
3. otherwise the first unsent lesson, by (month, order), whose stage is the reader's stage
   or `any`, whose destinations include theirs or `any`, and whose month has come.
   Check-ins sort first within their month (they carry a low order).
Nothing fits → no email this week, with the reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from course.vocabulary import ANY, Kind


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
        return (self.stage in (ANY, stage)) and (ANY in self.destinations or destination in self.destinations)


@dataclass(frozen=True)
class Reader:
    stage: str
    destination: str
    course_month: int
    length_months: int


@dataclass(frozen=True)
class Choice:
    lesson: LessonInfo | None
    reason: str

    @property
    def completes_course(self) -> bool:
        return self.lesson is not None and self.lesson.kind == Kind.COMPLETION


def sort_catalogue(lessons: Iterable[LessonInfo]) -> list[LessonInfo]:
    return sorted(lessons, key=lambda lesson: (lesson.month, lesson.order, lesson.slug))


def next_email(reader: Reader, catalogue: Sequence[LessonInfo], sent: set[int] | frozenset[int]) -> Choice:
    """The next email for `reader`, given the course's catalogue (sorted by `sort_catalogue`)
    and the ids of lessons already delivered (or in flight) to them."""
    unsent = [lesson for lesson in catalogue if lesson.id not in sent]

    welcome = next((lesson for lesson in unsent if lesson.kind == Kind.WELCOME), None)
    if welcome is not None:
        return Choice(welcome, "welcome comes first")

    if reader.course_month > reader.length_months:
        completion = next((lesson for lesson in unsent if lesson.kind == Kind.COMPLETION), None)
        if completion is not None:
            return Choice(completion, f"course month {reader.course_month} is past the last month")
        return Choice(None, "course finished and the completion email was already sent")

    for lesson in unsent:
        if lesson.kind in (Kind.WELCOME, Kind.COMPLETION):
            continue
        if lesson.month <= reader.course_month and lesson.fits(reader.stage, reader.destination):
            return Choice(
                lesson,
                f"first unsent {lesson.kind} for stage {reader.stage} and {reader.destination} "
                f"at month {lesson.month} (reader is in month {reader.course_month})",
            )
    return Choice(
        None,
        f"nothing unsent fits stage {reader.stage} and {reader.destination} by month {reader.course_month}",
    )
