"""Schedule math: course months and weekly slots. Pure functions of plain values."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime, time, timedelta
from functools import cache

# A course month is a twelfth of a year, so month 13 starts a year (of active time) in.
COURSE_MONTH = timedelta(days=365.25 / 12)
# Two course emails are never closer than this, even when a slot was missed and caught up.
MIN_GAP = timedelta(hours=12)


@cache
def zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


def is_time_zone(name: str) -> bool:
    return name in available_time_zones()


@cache
def available_time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def active_time(
    enrolled_at: datetime, now: datetime, paused_for: timedelta, paused_since: datetime | None
) -> timedelta:
    """Time spent in the course so far: since enrolment, not counting paused time."""
    active = now - enrolled_at - paused_for
    if paused_since is not None:
        active -= now - paused_since
    return max(active, timedelta(0))


def course_month(
    enrolled_at: datetime,
    now: datetime,
    paused_for: timedelta = timedelta(0),
    paused_since: datetime | None = None,
) -> int:
    """The reader's course month: 1 during the first month of active time, 2 in the second...

    Paused time does not count, so a reader who resumes continues where they left off.
    """
    return active_time(enrolled_at, now, paused_for, paused_since) // COURSE_MONTH + 1


def course_week(active: timedelta) -> int:
    """Whole weeks of course time (0 in the first week)."""
    return active // timedelta(weeks=1)


def local_slot(day: date, hour: int, tz_name: str) -> datetime:
    """`hour`:00 on `day` in the reader's time zone, as an aware UTC datetime.

    Rule for daylight-saving changes: a local time that does not exist (clocks spring
    forward past it) is moved forward by the size of the gap (02:00 becomes 03:00); a
    local time that happens twice (clocks fall back) is its first occurrence.
    """
    local = datetime.combine(day, time(hour), tzinfo=zone(tz_name))  # fold=0
    return local.astimezone(UTC)


def next_weekly_slot(after: datetime, tz_name: str, weekday: int, hour: int) -> datetime:
    """The reader's next weekly slot: the first `weekday` (0 = Monday) at `hour`:00 local
    time that is more than MIN_GAP after `after`.

    Computed from the wall clock in the reader's current time zone each time, so a slot
    stays at their chosen local hour across DST changes and after a time-zone change.
    """
    earliest = after + MIN_GAP
    local_day = earliest.astimezone(zone(tz_name)).date()
    day = local_day + timedelta(days=(weekday - local_day.weekday()) % 7)
    while (slot := local_slot(day, hour, tz_name)) <= earliest:
        day += timedelta(days=7)
    return slot


def local_weekday(moment: datetime, tz_name: str) -> int:
    return moment.astimezone(zone(tz_name)).weekday()
