from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError


def test_preview_schedule_explains_every_coming_email(alice, capsys):
    call_command("preview_schedule", "alice@example.com", "--weeks", "4")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("alice@example.com · test-course · active · stage deciding · payer")
    assert "welcome comes first" in lines[2]
    assert "payer-only" in lines[3]
    assert all("08:00" in line for line in lines[3:])
    assert len(lines) == 2 + 4


def test_preview_schedule_shows_a_what_if_without_changing_anything(bob, capsys):
    call_command("preview_schedule", "bob@example.com", "--weeks", "3", "--stage", "searching")
    out = capsys.readouterr().out
    assert "what if: stage searching" in out
    assert "searching-only" in out
    bob.refresh_from_db()
    assert bob.stage == "deciding"


def test_preview_schedule_of_an_unknown_reader_fails_with_one_line(course):
    with pytest.raises(CommandError, match=r"no reader 'nobody@example\.com'"):
        call_command("preview_schedule", "nobody@example.com")


def test_a_reader_who_enrols_in_the_evening_gets_one_course_week_per_slot(db, capsys):
    """Enrolled at 19:00, after the 08:00 send hour: weeks 0, 1, 2, … and the first check-in in week 6
    (the shipped course checks in every six weeks)."""
    import time_machine

    from lessons.importing import import_path
    from tests.conftest import SHIPPED_CONTENT, enrol

    (report,) = import_path(SHIPPED_CONTENT / "clinical-to-non-clinical")
    evening = datetime(2026, 4, 6, 23, tzinfo=UTC)  # Monday 19:00 in New York
    with time_machine.travel(evening, tick=False):
        enrol(report.course, "eve@example.com", first_name="Eve", time_zone="America/New_York", send_hour=8)
        call_command("preview_schedule", "eve@example.com", "--weeks", "10")
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[2:]]
    assert [int(row[3]) for row in rows] == list(range(10))  # the "wk" column
    assert rows[0][5] == "welcome"
    checkins = [int(row[3]) for row in rows if row[5] == "checkin"]
    assert checkins == [6]
    assert {row[2] for row in rows[1:]} == {"08:00"}
