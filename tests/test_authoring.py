"""Authoring tools: validate, export/import round trip, the course map."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from lessons.files import read_course_folder
from lessons.importing import add_version, export_course, import_path
from tests.conftest import SHIPPED_CONTENT, TEST_COURSE


def validate(path: Path) -> tuple[list[str], str]:
    from io import StringIO

    out = StringIO()
    try:
        call_command("validate_lessons", str(path), stdout=out, stderr=StringIO())
    except CommandError as exc:
        return out.getvalue().splitlines(), str(exc)
    return out.getvalue().splitlines(), ""


@pytest.mark.parametrize("course", ["clinical-to-non-clinical", "ae-after-layoff"])
def test_every_shipped_course_validates_with_no_gap(course):
    lines, error = validate(SHIPPED_CONTENT / course)
    assert (lines, error) == ([], "")


def test_the_shipped_course_has_what_the_brief_asks_for():
    course = read_course_folder(SHIPPED_CONTENT / "clinical-to-non-clinical")
    kinds = [lesson.kind for lesson in course.lessons]
    assert len(course.lessons) >= 75
    assert kinds.count("welcome") == kinds.count("completion") == 1
    assert kinds.count("checkin") >= 8  # eight fit a year at six-weekly spacing, plus the landed ones
    for destination in ("undecided", "change-setting", "payer", "medical-affairs", "regulatory-affairs"):
        track = [lesson for lesson in course.lessons if lesson.destinations == [destination]]
        assert len(track) >= 5, destination
    for lesson in course.lessons:
        words = len(lesson.body.split())
        assert 300 <= words <= 900, f"{lesson.slug}: {words} words"
    for checkin in (lesson for lesson in course.lessons if lesson.kind == "checkin"):
        for number, stage in enumerate(["Deciding", "Conversations", "Searching", "Interviewing", "Landed"], 1):
            assert f"{number}. {stage}" in checkin.body, checkin.slug


def break_file(tmp_path: Path, name: str, text: str) -> Path:
    folder = tmp_path / "test-course"
    shutil.copytree(TEST_COURSE, folder)
    (folder / name).write_text(text)
    return folder


HEAD = "---\nslug: x\nsubject: S\nkind: lesson\nstage: any\ndestinations: any\nmonth: 1\norder: 1\n---\n"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("---\nslug: x\nsubject: S\nkind: lesson\nstage: flying\ndestinations: any\nmonth: 1\norder: 1\n---\nB",
         "x.md:5: unknown stage 'flying'"),
        ("---\nslug: x\nsubject: S\nkind: lesson\nstage: any\ndestinations: [pharma]\nmonth: 1\norder: 1\n---\nB",
         "x.md:6: unknown destination 'pharma'"),
        ("---\nslug: x\nsubject: S\nkind: memo\nstage: any\ndestinations: any\nmonth: 1\norder: 1\n---\nB",
         "x.md:4: unknown kind 'memo'"),
        ("---\nslug: x\nsubject: S\nkind: lesson\nstage: any\ndestinations: any\nmonth: 14\norder: 1\n---\nB",
         "x.md:7: month must be a whole number from 1 to 12"),
        ("---\nslug: x\nsubject: ''\nkind: lesson\nstage: any\ndestinations: any\nmonth: 1\norder: 1\n---\nB",
         "x.md:3: subject is missing or empty"),
        (HEAD + "One\n\nHi {{ nickname }}",
         "x.md:12: unknown placeholder nickname"),
        (HEAD + "See [this](lesson:nowhere)",
         "x.md:10: link to unknown lesson 'nowhere'"),
        ("---\nslug: lesson-1\nsubject: S\nkind: lesson\nstage: any\ndestinations: any\nmonth: 1\norder: 1\n---\nB",
         "x.md:2: slug 'lesson-1' differs from the file name"),
        ("---\nslug: x\nsubject: [unclosed\nkind: lesson\n---\nB", "x.md:3: bad YAML in front matter"),
    ],
)  # fmt: skip
def test_validate_points_at_the_file_and_line_of_each_problem(tmp_path, text, expected):
    lines, error = validate(break_file(tmp_path, "x.md", text))
    assert error.endswith("problem(s) found")
    assert any(expected in line for line in lines), lines


def test_validate_finds_a_duplicate_slug(tmp_path):
    folder = break_file(tmp_path, "lesson-11.md", (TEST_COURSE / "lesson-1.md").read_text())
    lines, _ = validate(folder)
    assert any("lesson-11.md:2: slug 'lesson-1' differs" in line for line in lines)


def test_validate_finds_weeks_where_a_path_has_nothing_to_send(tmp_path):
    folder = tmp_path / "thin"
    shutil.copytree(TEST_COURSE, folder)
    for path in folder.glob("lesson-*.md"):
        path.unlink()
    lines, error = validate(folder)
    assert error
    assert any("gap: a reader staying at deciding on payer gets no email in weeks 3, 4, 5" in line for line in lines)


def folder_files(folder: Path) -> dict[str, bytes]:
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


@pytest.mark.parametrize("course", ["clinical-to-non-clinical", "ae-after-layoff"])
def test_export_of_an_unchanged_shipped_course_reproduces_its_files_byte_for_byte(db, tmp_path, course):
    # The files as they are now (whoever last edited them), read once so an edit mid-test cannot race.
    copy = tmp_path / "as-shipped"
    shutil.copytree(SHIPPED_CONTENT / course, copy)
    (report,) = import_path(copy)
    export_course(report.course, tmp_path / "out")
    assert folder_files(tmp_path / "out") == folder_files(copy)
    (again,) = import_path(tmp_path / "out")
    assert again.summary().endswith("up to date ({} lessons unchanged)".format(len(list(copy.glob("*.md")))))


def test_export_after_an_edit_changes_only_that_lessons_file_and_only_what_changed(db, tmp_path):
    copy = tmp_path / "course"
    shutil.copytree(SHIPPED_CONTENT / "clinical-to-non-clinical", copy)
    (copy / "payer-who-hires.md").write_bytes((copy / "payer-who-hires.md").read_bytes().replace(b"\n", b"\r\n"))
    (report,) = import_path(copy)
    before = folder_files(copy)
    lesson = report.course.lessons.get(slug="payer-who-hires")
    lesson.month += 1
    lesson.save()
    add_version(lesson, lesson.current_version.subject + " (revised)", lesson.current_version.body)

    export_course(report.course, copy)

    after = folder_files(copy)
    assert [name for name in after if after[name] != before[name]] == ["payer-who-hires.md"]
    old, new = before["payer-who-hires.md"].split(b"\r\n"), after["payer-who-hires.md"].split(b"\r\n")
    assert len(old) == len(new)
    changed = [(a, b) for a, b in zip(old, new, strict=True) if a != b]
    assert [a.split(b":")[0] for a, _ in changed] == [b"subject", b"month"]
    assert changed[0][1].endswith(b' (revised)"')
    (again,) = import_path(copy)
    assert again.summary().endswith("up to date ({} lessons unchanged)".format(len(list(copy.glob("*.md")))))


def test_course_map_prints_counts_and_fails_on_a_gap(db, tmp_path, capsys):
    import_path(SHIPPED_CONTENT)
    call_command("course_map", "--course", "clinical-to-non-clinical")
    out = capsys.readouterr().out
    assert "Medical affairs" in out and "no gaps" in out

    thin = tmp_path / "test-course"
    shutil.copytree(TEST_COURSE, thin)
    for path in thin.glob("lesson-*.md"):
        path.unlink()
    import_path(thin)
    with pytest.raises(CommandError, match="without an email"):
        call_command("course_map", "--course", "test-course")
    assert "!" in capsys.readouterr().out


def test_the_sample_course_sends_through_the_same_engine(db):
    import time_machine
    from django.utils import timezone

    from subscribers.sending import drip
    from tests.conftest import enrol, outbox_to

    (report,) = import_path(SHIPPED_CONTENT / "ae-after-layoff")
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        reader = enrol(report.course, "ae@example.com", first_name="Sam", stage="searching")
        for _ in range(8):
            reader.refresh_from_db()
            if reader.next_send_at is None:
                break
            traveller.move_to(reader.next_send_at)
            for delivery_id in drip.tick(queue=False).delivery_ids:
                drip.send_delivery(delivery_id)
    kinds = [m.subject for m in outbox_to("ae@example.com")]
    reader.refresh_from_db()
    assert reader.status == "completed"
    assert len(kinds) == 6  # welcome, three lessons, the check-in, completion
    assert kinds[0].startswith("Welcome")
