"""Schedule math: weekly slots, course weeks and course months. Pure functions of plain values.

**Weekly slots.** A reader's slots are their weekday at their chosen hour in their time zone
(`Timing`), read off the wall clock each time, so a slot stays at the chosen local hour across
DST changes and after a time-zone change. A local hour that does not exist (clocks spring
forward past it) moves forward by the size of the gap (02:00 becomes 03:00); one that happens
twice (clocks fall back) is its first occurrence. Two course emails are never closer than
MIN_GAP: the next slot after an email is the first one more than MIN_GAP after it.

**Which slot a moment belongs to** (`slot_index`): the last slot at or before the moment plus
MIN_GAP. That is the slot whose email the moment stands for: the enrolment (its welcome goes out
at once) belongs to the slot just before it unless the next one is within MIN_GAP, which
`next_slot` then skips; a tick that runs late, or catches up after an outage, still belongs to
the slot it was due in.

**Course time is counted in slots, not hours.** The course week at a moment is the number of
slots since the enrolment slot, less the slots spent paused: 0 for the welcome, 1 for the next
weekly email, and so on, whatever hour the reader enrolled at. A pause from P to R leaves out
the slots from P up to the first slot the reader can get after R (those whose time falls in
(P, R + MIN_GAP]), so the first email after a pause is one week after the last one before it.
The course month follows from the week: month m holds the weeks whose start lies in the m-th
twelfth of a year (365.25 / 12 days), so weeks 0-4 are month 1, 5-8 month 2, … 48-52 month 12,
and week 53 is past a twelve-month course.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache, cached_property

# A course month is a twelfth of a year, so month 13 starts a year (of course time) in.
COURSE_MONTH = timedelta(days=365.25 / 12)
WEEK = timedelta(weeks=1)
# Two course emails are never closer than this, even when a slot was missed and caught up.
MIN_GAP = timedelta(hours=12)
# A Monday: slot k of a timing is `weekday` days and `hour` hours after it, plus k weeks, on the wall clock.
_EPOCH = datetime(2001, 1, 1)


@dataclass(frozen=True)
class Timing:
    """When a reader's weekly email goes out: weekday (0 = Monday) and hour in their time zone."""

    time_zone: str
    weekday: int
    hour: int


@cache
def zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


def is_time_zone(name: str) -> bool:
    return name in available_time_zones()


@cache
def available_time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def local_slot(day: date, hour: int, tz_name: str) -> datetime:
    """`hour`:00 on `day` in the reader's time zone, as an aware UTC datetime (DST rule above)."""
    local = datetime.combine(day, time(hour), tzinfo=zone(tz_name))  # fold=0
    return local.astimezone(UTC)


def next_slot(after: datetime, timing: Timing) -> datetime:
    """The reader's next weekly slot: the first one more than MIN_GAP after `after`."""
    earliest = after + MIN_GAP
    local_day = earliest.astimezone(zone(timing.time_zone)).date()
    day = local_day + timedelta(days=(timing.weekday - local_day.weekday()) % 7)
    while (slot := local_slot(day, timing.hour, timing.time_zone)) <= earliest:
        day += WEEK
    return slot


def slot_index(moment: datetime, timing: Timing) -> int:
    """The number of the slot `moment` belongs to (module docstring), counted on the wall clock."""
    wall = (moment + MIN_GAP).astimezone(zone(timing.time_zone)).replace(tzinfo=None, fold=0)
    # A wall time in a spring-forward gap is read as its first slot index, the same as next_slot's choice.
    first_slot = _EPOCH + timedelta(days=timing.weekday, hours=timing.hour)
    return (wall - first_slot) // WEEK


def paused_slots(paused_at: datetime, resumed_at: datetime, timing: Timing) -> int:
    """Slots a pause from `paused_at` to `resumed_at` leaves out of course time (module docstring)."""
    return max(slot_index(resumed_at, timing) - slot_index(paused_at - MIN_GAP, timing), 0)


def month_of_week(week: int) -> int:
    """The course month (from 1) that course week `week` (from 0) lies in."""
    return (week * WEEK) // COURSE_MONTH + 1


@dataclass(frozen=True)
class CourseClock:
    """A reader's course time: enrolment, weekly timing, and the slots paused so far."""

    enrolled_at: datetime
    timing: Timing
    paused_slots: int = 0
    paused_at: datetime | None = None  # set while paused: the slots since then do not count

    def week(self, now: datetime) -> int:
        """Course week at `now`: slots since the enrolment slot, paused slots excluded (from 0)."""
        paused = self.paused_slots
        if self.paused_at is not None:
            paused += paused_slots(self.paused_at, now, self.timing)
        week = slot_index(now, self.timing) - self._enrolment_slot - paused
        return max(week, 0)

    @cached_property
    def _enrolment_slot(self) -> int:
        return slot_index(self.enrolled_at, self.timing)

    def month(self, now: datetime) -> int:
        return month_of_week(self.week(now))


def local_weekday(moment: datetime, tz_name: str) -> int:
    return moment.astimezone(zone(tz_name)).weekday()
