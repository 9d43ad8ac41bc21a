from __future__ import annotations

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
