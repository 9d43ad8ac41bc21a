"""What the planner will send a reader over the coming weeks: the planner run forward over
their weekly slots, assuming nothing about them changes (or a what-if stage/destination)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from course.planner import Choice, LessonInfo, Reader, Rules, Sent, next_email
from course.schedule import Timing, next_slot


@dataclass(frozen=True)
class Slot:
    """The reader's email for one weekly slot (no lesson: nothing is sent that week)."""

    at: datetime
    week: int
    month: int
    lesson: LessonInfo | None
    reason: str


def preview(
    reader: Reader,
    rules: Rules,
    catalogue: Sequence[LessonInfo],
    history: Sequence[Sent],
    *,
    start: datetime,
    timing: Timing,
    weeks: int,
    stage: str | None = None,
    destination: str | None = None,
) -> list[Slot]:
    """The next `weeks` slots from `start` (the reader's next send time). `stage` and
    `destination` ask "what if the reader were here instead"."""
    reader = replace(reader, stage=stage or reader.stage, destination=destination or reader.destination)
    sent = list(history)
    slots: list[Slot] = []
    at = start
    for _ in range(weeks):
        choice: Choice = next_email(reader, rules, catalogue, sent, at)
        week, month = reader.week(at), reader.month(at)
        slots.append(Slot(at, week, month, choice.lesson, choice.reason))
        if choice.finished or choice.completes_course:
            break
        if choice.lesson is not None:
            sent.append(Sent(choice.lesson.id, choice.lesson.kind, week, month))
        at = next_slot(at, timing)
    return slots
