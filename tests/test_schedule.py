"""Schedule math: weekly slots at the reader's local hour, and course time counted in slots."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from course.schedule import CourseClock, Timing, local_slot, month_of_week, next_slot, paused_slots, slot_index, zone

NEW_YORK_8 = Timing("America/New_York", weekday=0, hour=8)  # Mondays 08:00 in New York


def walk(clock: CourseClock, weeks: int) -> list[tuple[datetime, int]]:
    """The clock's course week at the welcome and at each of the next weekly slots."""
    at, seen = clock.enrolled_at, []
    for _ in range(weeks):
        seen.append((at, clock.week(at)))
        at = next_slot(at, clock.timing)
    return seen


@pytest.mark.parametrize("hour", [0, 7, 8, 9, 12, 19, 23])
def test_course_weeks_count_slots_whatever_hour_the_reader_enrols_at(hour):
    # A Monday in New York (EST, UTC-5); the reader's slot is Monday 08:00 local.
    enrolled = datetime(2026, 1, 5, hour, 30, tzinfo=zone("America/New_York")).astimezone(UTC)
    weeks = [week for _, week in walk(CourseClock(enrolled, NEW_YORK_8), 12)]
    assert weeks == list(range(12))


def test_a_reader_enrolled_at_19_00_gets_week_1_a_week_later_not_week_0_twice():
    enrolled = datetime(2026, 1, 5, 19, tzinfo=zone("America/New_York")).astimezone(UTC)
    clock = CourseClock(enrolled, NEW_YORK_8)
    first = next_slot(enrolled, NEW_YORK_8)
    assert first == datetime(2026, 1, 12, 13, tzinfo=UTC)  # the next Monday 08:00 EST
    assert (clock.week(enrolled), clock.week(first)) == (0, 1)


def test_a_tick_that_runs_late_still_counts_in_the_slot_it_was_due_in():
    enrolled = datetime(2026, 1, 5, 13, tzinfo=UTC)  # Monday 08:00 in New York
    clock = CourseClock(enrolled, NEW_YORK_8)
    due = datetime(2026, 1, 19, 13, tzinfo=UTC)  # week 2's slot
    assert clock.week(due) == clock.week(due + timedelta(hours=30)) == 2  # caught up the next day
    assert clock.week(due + timedelta(days=7)) == 3


def test_weeks_stay_whole_across_both_dst_changes():
    # New York springs forward on Mar 8 and falls back on Nov 1, 2026: slots stay at 08:00 local.
    enrolled = datetime(2026, 1, 5, 22, tzinfo=UTC)
    seen = walk(CourseClock(enrolled, NEW_YORK_8), 53)
    assert [week for _, week in seen] == list(range(53))
    assert {at.astimezone(zone("America/New_York")).hour for at, _ in seen[1:]} == {8}


def test_course_months_follow_the_weeks():
    # Month m holds the weeks starting in the m-th twelfth of a year (365.25 / 12 days each).
    assert [month_of_week(week) for week in (0, 4, 5, 8, 9, 13, 48, 52, 53)] == [1, 1, 2, 2, 3, 3, 12, 12, 13]


def test_paused_slots_are_not_course_time():
    enrolled = datetime(2026, 1, 5, 13, tzinfo=UTC)  # Monday 08:00 in New York, week 0
    paused_at = datetime(2026, 1, 20, 15, tzinfo=UTC)  # Tuesday after week 2's email
    resumed_at = datetime(2026, 2, 12, 15, tzinfo=UTC)  # a Thursday, three slots later
    assert paused_slots(paused_at, resumed_at, NEW_YORK_8) == 3
    clock = CourseClock(enrolled, NEW_YORK_8, paused_slots=3)
    first_back = next_slot(resumed_at, NEW_YORK_8)
    assert first_back == datetime(2026, 2, 16, 13, tzinfo=UTC)
    assert clock.week(first_back) == 3  # one week after the last email before the pause


def test_a_pause_that_ends_just_before_a_slot_skips_it_and_still_counts_one_week_on():
    paused_at = datetime(2026, 1, 20, 15, tzinfo=UTC)  # Tuesday, after week 2's Monday email
    resumed_at = datetime(2026, 2, 9, 12, tzinfo=UTC)  # Monday 07:00, an hour before a slot it cannot have
    clock = CourseClock(datetime(2026, 1, 5, 13, tzinfo=UTC), NEW_YORK_8)
    clock = CourseClock(clock.enrolled_at, NEW_YORK_8, paused_slots=paused_slots(paused_at, resumed_at, NEW_YORK_8))
    assert clock.week(next_slot(resumed_at, NEW_YORK_8)) == 3


def test_while_paused_the_clock_stands_still():
    enrolled = datetime(2026, 1, 5, 13, tzinfo=UTC)
    paused_at = datetime(2026, 1, 20, 15, tzinfo=UTC)
    clock = CourseClock(enrolled, NEW_YORK_8, paused_at=paused_at)
    assert clock.week(paused_at) == clock.week(paused_at + timedelta(days=60)) == 2


def test_the_slot_index_reads_the_wall_clock():
    # 08:00 New York on two Mondays either side of the spring change are one slot apart (167 hours).
    before = datetime(2026, 3, 2, 13, tzinfo=UTC)
    after = datetime(2026, 3, 9, 12, tzinfo=UTC)
    assert after - before == timedelta(hours=167)
    assert slot_index(after, NEW_YORK_8) - slot_index(before, NEW_YORK_8) == 1


def test_a_local_hour_that_does_not_exist_moves_forward_by_the_gap():
    # 2026-03-08 02:00 does not exist in New York: clocks go from 01:59 EST to 03:00 EDT.
    slot = local_slot(date(2026, 3, 8), 2, "America/New_York")
    assert slot.astimezone(zone("America/New_York")).hour == 3


def test_a_local_hour_that_happens_twice_is_its_first_occurrence():
    # 2026-11-01 01:00 happens twice in New York; the first is EDT (UTC-4) = 05:00 UTC.
    assert local_slot(date(2026, 11, 1), 1, "America/New_York") == datetime(2026, 11, 1, 5, tzinfo=UTC)


def test_the_next_weekly_slot_is_on_the_readers_weekday_at_their_local_hour():
    after = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)  # Monday 08:00 in New York (EST)
    slot = next_slot(after, NEW_YORK_8)
    local = slot.astimezone(zone("America/New_York"))
    assert (local.date(), local.hour, local.minute) == (date(2026, 3, 9), 8, 0)  # after the DST change
    assert slot == datetime(2026, 3, 9, 12, 0, tzinfo=UTC)  # EDT is UTC-4


def test_the_next_slot_is_never_within_twelve_hours_of_the_last_email():
    after = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # Monday 07:00 in New York, an hour before the slot
    slot = next_slot(after, NEW_YORK_8)
    assert slot == datetime(2026, 3, 9, 12, 0, tzinfo=UTC)


def test_a_time_zone_change_keeps_the_local_hour_in_the_new_zone():
    after = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)  # Monday 21:00 in Tokyo
    slot = next_slot(after, Timing("Asia/Tokyo", weekday=2, hour=7))
    assert slot == datetime(2026, 5, 5, 22, 0, tzinfo=UTC)  # Wednesday 07:00 in Tokyo (UTC+9)
