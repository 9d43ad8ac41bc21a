"""A reader's weekly timing and course clock, read off a Subscriber (or a row with the same fields),
and how their send hour reads."""

from __future__ import annotations

from datetime import datetime

from course import planner
from course.schedule import CourseClock, Timing, next_slot

# What planning reads of a reader: the planner's input and the weekly slot.
CLOCK_FIELDS = ("enrolled_at", "paused_at", "paused_slots", "time_zone", "send_weekday", "send_hour")
PROFILE_FIELDS = ("profession", "license_plan", "pay_need", "stage_reported_at")


def timing_of(reader) -> Timing:
    return Timing(reader.time_zone, reader.send_weekday, reader.send_hour)


def clock_of(reader) -> CourseClock:
    return CourseClock(reader.enrolled_at, timing_of(reader), reader.paused_slots, reader.paused_at)


def next_slot_of(reader, after: datetime) -> datetime:
    """The reader's next weekly slot more than MIN_GAP after `after` (course.schedule.next_slot)."""
    return next_slot(after, timing_of(reader))


def hour_label(hour: int) -> str:
    """A send hour as readers read it: 7 → "7:00 am"."""
    suffix = "am" if hour < 12 else "pm"
    return f"{(hour % 12) or 12}:00 {suffix}"


def reader_state(reader) -> planner.Reader:
    """The planner's view of a reader: stage, track, course clock and profile."""
    clock = clock_of(reader)
    reported = reader.stage_reported_at
    return planner.Reader(
        stage=reader.stage,
        destination=reader.destination,
        clock=clock,
        profession=reader.profession,
        license_plan=reader.license_plan,
        pay_need=reader.pay_need,
        reported_week=clock.week(reported) if reported is not None else None,
    )
