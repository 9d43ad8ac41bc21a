"""Lessons that fit the reader: `::: for` sections, profile placeholders, and reader values that stay text."""

from __future__ import annotations

import shutil

import pytest

from lessons import sections
from lessons.files import LessonFileError
from lessons.importing import import_path
from lessons.rendering import render_lesson, unsafe_placeholders
from subscribers.models import Delivery
from subscribers.sending import emails
from tests.conftest import SHIPPED_CONTENT, enrol
from tests.test_lessons import copy_course

BODY = """Everyone reads this.

::: for profession=rn,np license_plan=keep
Nurses who keep their license can take per-diem shifts.
:::

::: for not_for=change-setting
Why leave clinical work at all?
:::

Everyone reads this too.
"""

NURSE = {"profession": "rn", "license_plan": "keep", "pay_need": "match", "destination": "payer"}
PHYSICIAN_STAYING = {"profession": "physician", "license_plan": "keep", "pay_need": "match",
                     "destination": "change-setting"}  # fmt: skip


def lesson_file(body: str) -> str:
    front = "slug: lesson-1\nsubject: S\nkind: lesson\nstage: any\ndestinations: any\nmonth: 1\norder: 1"
    return f"---\n{front}\n---\n{body}"


def test_a_section_shows_only_to_the_readers_it_names():
    nurse = render_lesson(1, "S", BODY, "T", variant=sections.variant_for(BODY, NURSE))
    staying = render_lesson(1, "S", BODY, "T", variant=sections.variant_for(BODY, PHYSICIAN_STAYING))

    assert "per-diem shifts" in nurse.text and "Why leave clinical work" in nurse.text
    assert "per-diem shifts" not in staying.text and "Why leave clinical work" not in staying.text
    for email in (nurse, staying):
        assert "Everyone reads this." in email.text and "Everyone reads this too." in email.text
        assert ":::" not in email.text and ":::" not in email.html


def test_readers_with_the_same_variant_share_one_cached_render():
    render_lesson.cache_clear()
    other_nurse = dict(NURSE, pay_need="flexible")  # pay_need is not asked by any section
    for profile in (NURSE, other_nurse, PHYSICIAN_STAYING):
        render_lesson(7, "S", BODY, "T", variant=sections.variant_for(BODY, profile))

    assert sections.variant_for(BODY, NURSE) == sections.variant_for(BODY, other_nurse) == (True, True)
    assert render_lesson.cache_info().misses == 2 and render_lesson.cache_info().hits == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("::: for profesion=rn\nx\n:::\n", "unknown section key 'profesion'"),
        ("::: for profession=surgeon\nx\n:::\n", "unknown profession 'surgeon'"),
        ("::: for not_for=payr\nx\n:::\n", "unknown not_for 'payr'"),
        ("::: for profession=rn\nx\n", "never closed"),
        (":::\n", "closes no section"),
        ("::: for profession=rn\n::: for pay_need=match\n:::\n:::\n", "cannot start inside another"),
        ("::: for\nx\n:::\n", "needs at least one rule"),
        ("::: note\nx\n:::\n", "unknown fence"),
    ],
)
def test_validation_names_a_bad_section_and_its_line(db, tmp_path, body, message):
    folder = copy_course(tmp_path)
    (folder / "lesson-1.md").write_text(lesson_file(f"Intro.\n\n{body}"))

    with pytest.raises(LessonFileError, match=rf"lesson-1\.md:1[0-9]: .*{message}"):
        import_path(folder)


def test_profile_placeholders_fill_in_and_a_misspelt_one_is_refused(course, tmp_path):
    reader = enrol(
        course, "ines@example.com", profession="np", license_plan="keep", pay_need="match", specialty="family practice"
    )
    values = emails.placeholder_values(reader, reader.enrolled_at)
    body = "As a {{ profession_name }} in {{ specialty }}: license {{ license_plan }}; pay {{ pay_need }}."
    email = render_lesson(3, "S", body, "T").personalise(values)
    assert email.text.startswith("As a nurse practitioner in family practice: license keep it active; pay we need my")

    folder = copy_course(tmp_path)
    (folder / "lesson-1.md").write_text(lesson_file("As a {{ profession }}"))
    with pytest.raises(LessonFileError, match="unknown placeholder profession"):
        import_path(folder)


@pytest.mark.parametrize(
    "body",
    [
        "[x]({{ first_name }})",
        "[x](https://example.com/?q={{ specialty }})",
        '<a href="{{ first_name }}">x</a>',
        "<https://example.com/{{ first_name }}>",
    ],
)
def test_a_readers_answer_inside_a_link_is_refused_and_never_becomes_a_live_link(db, tmp_path, body):
    assert unsafe_placeholders(body)
    folder = copy_course(tmp_path)
    (folder / "lesson-1.md").write_text(lesson_file(body))
    with pytest.raises(LessonFileError, match="inside a link address"):
        import_path(folder)

    # Behind validation (an old version, an admin draft): the value never lands in the address.
    email = render_lesson(4, "S", body, "T").personalise(
        {"first_name": "javascript:alert(1)", "specialty": "javascript:alert(1)"}
    )
    assert 'href="javascript' not in email.html and "href='javascript" not in email.html
    assert "alert(1)" not in "".join(part for part in email.html.split('"') if part.startswith(("javascript", "http")))


def test_our_own_values_may_stand_in_links():
    assert not unsafe_placeholders("[your plan]({{ preferences_url }}plan/) and [m](https://x/?m={{ course_month }})")
    email = render_lesson(5, "S", "[your plan]({{ preferences_url }}plan/)", "T").personalise(
        {"preferences_url": "https://course.example/p/abc/"}
    )
    assert 'href="https://course.example/p/abc/plan/"' in email.html


def test_the_email_a_reader_gets_has_their_variant(course):
    lesson = course.lessons.filter(kind="lesson").select_related("current_version").first()
    version = lesson.current_version
    version.body = BODY
    version.save(update_fields=["body"])
    nurse = enrol(course, "rn@example.com", profession="rn", license_plan="keep", destination="payer")
    staying = enrol(course, "md@example.com", profession="physician", destination="change-setting")

    for reader, shown in ((nurse, True), (staying, False)):
        delivery = Delivery.objects.create(subscriber=reader, lesson=lesson, version=version, due_at=reader.enrolled_at)
        message = emails.lesson_email(delivery, reader.enrolled_at)
        assert ("per-diem shifts" in message.body) is shown
        assert ("Why leave clinical work" in message.body) is shown


def test_a_course_with_its_own_tracks_targets_sections_by_them(db, tmp_path):
    ae = SHIPPED_CONTENT / "ae-after-layoff"
    folder = tmp_path / "ae"
    shutil.copytree(ae, folder)
    lesson = next(path for path in folder.glob("*.md") if "kind: lesson" in path.read_text())
    text = lesson.read_text()
    lesson.write_text(text + "\n::: for destination=sales-leadership\nFor the step up.\n:::\n")
    import_path(folder)  # its own track is known
    lesson.write_text(text + "\n::: for destination=payer\nNot this course's.\n:::\n")
    with pytest.raises(LessonFileError, match="unknown destination 'payer' in a section"):
        import_path(folder)
    body = text + "\n::: for destination=sales-leadership\nFor the step up.\n:::\n"
    shown = render_lesson(11, "S", body, "T", variant=sections.variant_for(body, {"destination": "sales-leadership"}))
    hidden = render_lesson(11, "S", body, "T", variant=sections.variant_for(body, {"destination": "customer-success"}))
    assert "For the step up." in shown.text and "For the step up." not in hidden.text
