"""The management commands as an operator runs them: clear output, one-line errors, exit codes."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from subscribers.models import Subscriber
from tests.conftest import ROOT, TEST_COURSE, outbox_to


def test_enroll_then_tick_send_puts_the_welcome_in_the_outbox(course, capsys):
    call_command("enroll", "Erin@Example.com", "--course", "test-course", "--first-name", "Erin", "--tz", "Asia/Tokyo")
    call_command("tick", "--send")

    out = capsys.readouterr().out
    assert "enrolled erin@example.com in test-course" in out
    assert "planned 1 emails" in out
    assert [m.subject for m in outbox_to("erin@example.com")] == ["Welcome, Erin"]
    assert Subscriber.objects.get(email="erin@example.com").time_zone == "Asia/Tokyo"


@pytest.mark.parametrize(
    "args, message",
    [
        (["x@example.com", "--course", "nope"], "no course 'nope'"),
        (["not-an-email", "--course", "test-course"], "not an email address"),
        (["x@example.com", "--course", "test-course", "--tz", "Mars/Olympus"], "unknown time zone"),
        (["x@example.com", "--course", "test-course", "--hour", "25"], "send hour must be 0-23"),
        (["x@example.com", "--course", "test-course", "--stage", "dreaming"], "unknown stage"),
    ],
)
def test_enroll_refuses_bad_input_with_one_clear_line(course, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("enroll", *args)
    assert not Subscriber.objects.exists()


def test_enroll_refuses_a_second_enrolment(course):
    call_command("enroll", "x@example.com", "--course", "test-course")
    with pytest.raises(CommandError, match="already enrolled"):
        call_command("enroll", "X@example.com", "--course", "test-course")


def test_import_lessons_reports_what_it_did(db, capsys):
    call_command("import_lessons", str(TEST_COURSE))
    call_command("import_lessons", str(TEST_COURSE))
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "test-course: new course, 14 added, 0 unchanged"
    assert out[1] == "  added     completion: completion.md"  # each lesson named
    assert out[-1] == "test-course: up to date (14 lessons unchanged)"


def test_import_lessons_of_a_missing_path_exits_non_zero_with_one_line():
    result = subprocess.run(
        [sys.executable, "manage.py", "import_lessons", "no/such/folder"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 1
    assert result.stderr.strip() == "CommandError: no/such/folder: no such file or folder"


def test_every_command_has_helpful_help():
    for command in ("enroll", "tick", "import_lessons"):
        result = subprocess.run(
            [sys.executable, "manage.py", command, "--help"], cwd=ROOT, capture_output=True, text=True
        )
        assert result.returncode == 0
        assert len(result.stdout) > 400


def test_fast_forward_brings_the_first_check_in_on_a_development_machine(db, settings):
    from django.core.management import call_command as run

    from lessons.importing import import_path
    from tests.conftest import FIXTURES

    settings.DEBUG = True
    import_path(FIXTURES / "courses" / "checkin-course")
    run("enroll", "kim@example.com", "--course", "checkin-course", "--first-name", "Kim")
    run("tick", "--send")
    run("fast_forward", "kim@example.com", "--weeks", "4")
    run("tick", "--send")
    assert outbox_to("kim@example.com")[-1].subject == "Check-in: where are you now?"


def test_fast_forward_is_refused_in_production(course, settings):
    settings.DEBUG, settings.OUTBOX_PAGE_ENABLED = False, False
    with pytest.raises(CommandError, match="development machines"):
        call_command("fast_forward", "x@example.com", "--weeks", "4")
