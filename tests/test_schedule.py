from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from course.schedule import course_month, local_slot, next_weekly_slot, zone


def test_course_month_starts_at_one_and_counts_active_time():
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert course_month(start, start) == 1
    assert course_month(start, start + timedelta(days=29)) == 1
    assert course_month(start, start + timedelta(days=31)) == 2
    assert course_month(start, start + timedelta(days=366)) == 13


def test_course_month_does_not_count_paused_time():
    start = datetime(2026, 1, 1, tzinfo=UTC)
    # 40 days in, of which 20 were paused earlier: still month 1.
    assert course_month(start, start + timedelta(days=40), paused_for=timedelta(days=20)) == 1
    # Paused since day 10 and still paused on day 70: month 1 (10 active days).
    assert course_month(start, start + timedelta(days=70), paused_since=start + timedelta(days=10)) == 1


def test_a_local_hour_that_does_not_exist_moves_forward_by_the_gap():
    # 2026-03-08 02:00 does not exist in New York: clocks go from 01:59 EST to 03:00 EDT.
    slot = local_slot(date(2026, 3, 8), 2, "America/New_York")
    assert slot.astimezone(zone("America/New_York")).hour == 3


def test_a_local_hour_that_happens_twice_is_its_first_occurrence():
    # 2026-11-01 01:00 happens twice in New York; the first is EDT (UTC-4) = 05:00 UTC.
    assert local_slot(date(2026, 11, 1), 1, "America/New_York") == datetime(2026, 11, 1, 5, tzinfo=UTC)


def test_the_next_weekly_slot_is_on_the_readers_weekday_at_their_local_hour():
    after = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)  # Monday 08:00 in New York (EST)
    slot = next_weekly_slot(after, "America/New_York", weekday=0, hour=8)
    local = slot.astimezone(zone("America/New_York"))
    assert (local.date(), local.hour, local.minute) == (date(2026, 3, 9), 8, 0)  # after the DST change
    assert slot == datetime(2026, 3, 9, 12, 0, tzinfo=UTC)  # EDT is UTC-4


def test_the_next_slot_is_never_within_twelve_hours_of_the_last_email():
    after = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # Monday 07:00 in New York, an hour before the slot
    slot = next_weekly_slot(after, "America/New_York", weekday=0, hour=8)
    assert slot - after > timedelta(days=6)


def test_a_time_zone_change_keeps_the_local_hour_in_the_new_zone():
    after = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
    slot = next_weekly_slot(after, "Asia/Tokyo", weekday=2, hour=7)
    local = slot.astimezone(zone("Asia/Tokyo"))
    assert (local.weekday(), local.hour) == (2, 7)
