"""Files and the admin as one source: provenance per version, no admin edit lost to an import,
removed files retire their lessons, a named report, --dry-run, one lesson written back."""

from __future__ import annotations

import hashlib
import shutil
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from lessons.catalogue import Catalogue
from lessons.models import Lesson, Source
from subscribers.sending import drip
from tests.conftest import ROOT, TEST_COURSE, enrol


@pytest.fixture
def folder(tmp_path) -> Path:
    copy = tmp_path / "test-course"
    shutil.copytree(TEST_COURSE, copy)
    return copy


@pytest.fixture
def author(db) -> User:
    return User.objects.create_superuser("ada", "ada@example.com", "a-long-password-1")


def run_import(folder: Path, *options: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("import_lessons", str(folder), *options, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def admin_edit(client, author: User, lesson: Lesson, **changes) -> None:
    client.force_login(author)
    version = lesson.current_version
    data = {
        "course": lesson.course_id, "slug": lesson.slug, "kind": lesson.kind, "stage": lesson.stage,
        "destinations": lesson.destinations, "month": lesson.month, "order": lesson.order,
        "subject": version.subject, "body": version.body,
        "versions-TOTAL_FORMS": "0", "versions-INITIAL_FORMS": "0", **changes,
    }  # fmt: skip
    response = client.post(f"/admin/lessons/lesson/{lesson.pk}/change/", data)
    assert response.status_code == 302, response.content[:2000]


def bin_run_import_command() -> list[str]:
    """The import line bin/run (make run) runs on every start, as arguments."""
    line = next(line for line in (ROOT / "bin" / "run").read_text().splitlines() if "import_lessons" in line)
    words = line.split()
    return words[words.index("import_lessons") + 1 :]


def test_each_version_records_the_file_and_hash_it_came_from_or_the_admin_user(db, folder, client, author):
    run_import(folder)
    lesson = Lesson.objects.get(slug="lesson-2")
    first = lesson.current_version
    digest = hashlib.sha256((folder / "lesson-2.md").read_bytes()).hexdigest()
    assert (first.source, first.source_file, first.source_hash) == (Source.FILE, "lesson-2.md", digest)
    assert first.front_matter == {"kind": "lesson", "stage": "any", "destinations": "any", "month": 1, "order": 20}

    admin_edit(client, author, lesson, body="An edit made in the admin.")

    lesson.refresh_from_db()
    assert lesson.current_version.number == 2
    assert (lesson.current_version.source, lesson.current_version.edited_by) == (Source.ADMIN, author)
    assert "admin editor, ada" in lesson.current_version.provenance


def test_an_admin_edit_survives_make_run_and_a_changed_file_is_refused_until_forced(db, folder, client, author):
    assert bin_run_import_command() == ["lessons/content"]
    run_import(folder)
    lesson = Lesson.objects.get(slug="lesson-2")
    admin_edit(client, author, lesson, body="Better words, written in the admin.")

    # Every start of `make run` imports the files again: the edit stays, and the report says why.
    out, _ = run_import(folder, *bin_run_import_command()[1:])
    lesson.refresh_from_db()
    assert lesson.current_version.body == "Better words, written in the admin."
    assert "kept      lesson-2: admin edit v2 by ada" in out
    assert "export_lessons --course test-course --lesson lesson-2" in out

    # Someone changes the file too: the import refuses that lesson, naming it, and imports the rest.
    path = folder / "lesson-2.md"
    path.write_text(path.read_text().replace("Body of lesson 2", "A file edit of lesson 2"))
    (folder / "lesson-3.md").write_text((folder / "lesson-3.md").read_text().replace("Body", "New body"))
    out, err = run_import(folder)
    lesson.refresh_from_db()
    assert lesson.current_version.number == 2
    assert "refused   lesson-2: its file changed, but the admin edit v2 by ada" in out
    assert "(the file differs from it in body); --force replaces the edit" in out
    assert "changed   lesson-3: body (now v2)" in out
    assert "1 lesson(s) refused" in err and "lesson-2" in err

    out, _ = run_import(folder, "--force")
    lesson.refresh_from_db()
    assert "A file edit of lesson 2" in lesson.current_version.body
    assert (lesson.current_version.number, lesson.current_version.source) == (3, Source.FILE)
    assert lesson.versions.get(number=2).body == "Better words, written in the admin."
    assert "replaced the admin edit v2 by ada" in out


def test_import_names_each_lesson_it_changes_or_adds_and_an_unchanged_import_says_up_to_date(db, folder):
    out, _ = run_import(folder)
    assert out.startswith("test-course: new course, 14 added, 0 unchanged")
    assert "  added     lesson-1: lesson-1.md" in out

    out, _ = run_import(folder)
    assert out.strip() == "test-course: up to date (14 lessons unchanged)"

    path = folder / "lesson-4.md"
    path.write_text(path.read_text().replace("month: 1", "month: 2").replace('"Lesson 4"', '"Lesson four"'))
    lesson_1 = (folder / "lesson-1.md").read_text()
    (folder / "lesson-11.md").write_text(lesson_1.replace("slug: lesson-1", "slug: lesson-11"))
    out, _ = run_import(folder)
    assert out.splitlines()[0] == "test-course: 1 changed, 1 added, 13 unchanged"
    assert "  changed   lesson-4: subject, month 1 → 2 (now v2)" in out
    assert "  added     lesson-11: lesson-11.md" in out


def test_a_removed_file_retires_its_lesson_which_is_no_longer_planned_and_keeps_its_history(db, folder):
    run_import(folder)
    course = Lesson.objects.get(slug="welcome").course
    reader = enrol(course, "rae@example.com", first_name="Rae")
    (delivery_id,) = drip.tick(queue=False).delivery_ids
    drip.send_delivery(delivery_id)
    (folder / "lesson-1.md").unlink()

    out, _ = run_import(folder)

    lesson = Lesson.objects.get(slug="lesson-1")
    assert lesson.retired_at is not None
    assert "  retired   lesson-1: its file is gone: no longer planned; 1 version(s) and 0 delivery(ies) kept" in out
    catalogue = Catalogue.load()
    assert "lesson-1" not in [info.slug for info in catalogue.lessons[course.pk]]
    assert catalogue.by_id[lesson.pk].slug == "lesson-1"  # history that holds it still reads
    assert reader.deliveries.get().lesson.slug == "welcome"

    (folder / "lesson-1.md").write_text((TEST_COURSE / "lesson-1.md").read_text())
    out, _ = run_import(folder)
    lesson.refresh_from_db()
    assert lesson.retired_at is None and lesson.versions.count() == 1
    assert "  restored  lesson-1: its file is back; planned again" in out


def test_a_removed_file_does_not_retire_a_lesson_edited_in_the_admin_without_force(db, folder, client, author):
    run_import(folder)
    admin_edit(client, author, Lesson.objects.get(slug="lesson-5"), subject="Lesson five, rewritten")
    (folder / "lesson-5.md").unlink()
    out, _ = run_import(folder)
    assert "refused   lesson-5: its file is gone but the admin edit v2 by ada" in out
    assert Lesson.objects.get(slug="lesson-5").retired_at is None
    run_import(folder, "--force")
    assert Lesson.objects.get(slug="lesson-5").retired_at is not None


def test_dry_run_reports_what_would_change_and_writes_nothing(db, folder):
    run_import(folder)
    path = folder / "lesson-2.md"
    path.write_text(path.read_text().replace("Body of lesson 2", "Another body"))
    (folder / "lesson-9.md").unlink()

    out, _ = run_import(folder, "--dry-run")

    assert out.splitlines()[0] == "Dry run: what an import would do; nothing was written."
    assert "  changed   lesson-2: body (now v2)" in out and "  retired   lesson-9" in out
    assert Lesson.objects.get(slug="lesson-2").versions.count() == 1
    assert Lesson.objects.get(slug="lesson-9").retired_at is None
    out, _ = run_import(folder)
    assert "changed   lesson-2" in out


def test_the_admin_downloads_a_lesson_as_its_file_and_export_writes_one_lesson(db, folder, client, author, tmp_path):
    run_import(folder)
    lesson = Lesson.objects.get(slug="lesson-2")
    client.force_login(author)
    response = client.get(f"/admin/lessons/lesson/{lesson.pk}/file/")
    assert response["Content-Disposition"] == 'attachment; filename="lesson-2.md"'
    assert response.content == (folder / "lesson-2.md").read_bytes()

    admin_edit(client, author, lesson, body="## Lesson 2\n\nAn admin edit.", month="3")
    response = client.get(f"/admin/lessons/lesson/{lesson.pk}/file/")
    assert response.content.decode() == (folder / "lesson-2.md").read_text().replace("month: 1", "month: 3").replace(
        "Body of lesson 2 for {{ first_name }}, in month {{ course_month }}.", "An admin edit."
    )

    before = {path.name: path.read_bytes() for path in folder.iterdir()}
    out = StringIO()
    call_command("export_lessons", "--course", "test-course", "--lesson", "lesson-2", str(folder), stdout=out)
    after = {path.name: path.read_bytes() for path in folder.iterdir()}
    assert [name for name in after if after[name] != before[name]] == ["lesson-2.md"]
    assert "wrote 1 lesson file(s)" in out.getvalue()
    out, _ = run_import(folder)
    assert out.strip() == "test-course: up to date (14 lessons unchanged)"
