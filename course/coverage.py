"""The course map: lesson counts by month, stage and destination, and the gaps, i.e. weekly
slots in which a reader on some path would get no email. Pure: runs the real planner."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from course.planner import LessonInfo, Reader, Rules
from course.preview import preview
from course.schedule import CourseClock, Timing
from course.vocabulary import ANY, Destination, Kind, Stage

# A reader who stays at one of these stages for the whole course must still get an email every week.
PATH_STAGES = (Stage.DECIDING, Stage.CONVERSATIONS, Stage.SEARCHING, Stage.INTERVIEWING)
_START = datetime(2026, 1, 5, 8, tzinfo=UTC)  # any Monday: paths are computed in course time


@dataclass(frozen=True)
class Gap:
    stage: str
    destination: str
    week: int
    month: int


@dataclass
class CourseMap:
    months: int
    counts: Counter = field(default_factory=Counter)  # (month, stage, destination) -> lessons
    gaps: list[Gap] = field(default_factory=list)

    def gap_cells(self) -> set[tuple[int, str, str]]:
        return {(gap.month, gap.stage, gap.destination) for gap in self.gaps}


def course_map(rules: Rules, catalogue: Sequence[LessonInfo], destinations: Sequence[str] = ()) -> CourseMap:
    """The map over the course's own `destinations` (its vocabulary; the built-in ones by default)."""
    tracks = list(destinations) or list(Destination.values)
    result = CourseMap(months=rules.length_months)
    for lesson in catalogue:
        if lesson.kind not in (Kind.LESSON, Kind.MILESTONE):
            continue
        stages = list(Stage) if lesson.stage == ANY else [Stage(lesson.stage)]
        for stage in stages:
            for destination in tracks if ANY in lesson.destinations else lesson.destinations:
                result.counts[(lesson.month, str(stage), str(destination))] += 1
    for destination in tracks:
        for stage in PATH_STAGES:
            result.gaps.extend(path_gaps(rules, catalogue, stage, destination))
    return result


def path_gaps(rules: Rules, catalogue: Sequence[LessonInfo], stage: str, destination: str) -> list[Gap]:
    """Weeks in which a reader who stays at `stage` on `destination` all course gets nothing."""
    timing = Timing("UTC", _START.weekday(), _START.hour)
    reader = Reader(stage=stage, destination=destination, clock=CourseClock(_START, timing), reported_week=0)
    slots = preview(reader, rules, catalogue, [], start=_START, timing=timing, weeks=rules.length_months * 5)
    return [Gap(str(stage), str(destination), slot.week, slot.month) for slot in slots if slot.lesson is None]
