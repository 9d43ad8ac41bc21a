"""Lesson files: import, versions, rendering."""

from __future__ import annotations

import shutil

import pytest
from django.core.mail import EmailMultiAlternatives

from lessons.files import LessonFileError
from lessons.importing import import_path
from lessons.models import Lesson, LessonVersion
from lessons.rendering import render_lesson
from tests.conftest import SHIPPED_CONTENT, TEST_COURSE


def copy_course(tmp_path):
    folder = tmp_path / "test-course"
    shutil.copytree(TEST_COURSE, folder)
    return folder


def test_every_shipped_course_imports(db):
    reports = import_path(SHIPPED_CONTENT)
    slugs = {report.course.slug for report in reports}
    assert {"clinical-to-non-clinical", "ae-after-layoff"} <= slugs
    assert Lesson.objects.filter(course__slug="clinical-to-non-clinical", kind="welcome").count() == 1


def test_a_bad_file_imports_nothing_and_is_named(db, tmp_path):
    folder = copy_course(tmp_path)
    (folder / "lesson-5.md").write_text(
        "---\nslug: lesson-5\nsubject: Five\nkind: lesson\nstage: flying\ndestinations: any\nmonth: 1\norder: 1\n---\nx"
    )
    with pytest.raises(LessonFileError, match=r"lesson-5\.md:5: unknown stage 'flying'"):
        import_path(folder)
    assert Lesson.objects.count() == 0


def test_an_unknown_placeholder_is_refused(db, tmp_path):
    folder = copy_course(tmp_path)
    (folder / "lesson-1.md").write_text(
        "---\nslug: lesson-1\nsubject: S\nkind: lesson\nstage: any\ndestinations: any\nmonth: 1\norder: 1\n---\n"
        "Hi {{ last_name }}"
    )
    with pytest.raises(LessonFileError, match="unknown placeholder last_name"):
        import_path(folder)


def test_reimporting_a_changed_lesson_makes_a_new_version_and_keeps_the_old(db, tmp_path):
    folder = copy_course(tmp_path)
    import_path(folder)
    path = folder / "lesson-2.md"
    path.write_text(path.read_text().replace("Body of lesson 2", "A better body of lesson 2"))

    (report,) = import_path(folder)

    assert (report.created, report.new_versions) == (0, 1)
    lesson = Lesson.objects.get(slug="lesson-2")
    assert list(lesson.versions.values_list("number", flat=True)) == [2, 1]
    assert "A better body" in lesson.current_version.body
    assert LessonVersion.objects.filter(lesson=lesson, number=1, body__contains="Body of lesson 2").exists()


def render(body: str, values: dict[str, str]):
    return render_lesson(1, "Hello {{ first_name }}", body, "Test course").personalise(values)


def test_rendering_escapes_what_the_reader_typed_in_html_but_not_in_text():
    email = render("Hi {{ first_name }},\n\nSome **bold** advice.", {"first_name": "<b>Eve</b> & co"})
    assert "&lt;b&gt;Eve&lt;/b&gt; &amp; co" in email.html
    assert "<b>Eve</b>" not in email.html
    assert email.text.startswith("Hi <b>Eve</b> & co,")
    assert email.subject == "Hello <b>Eve</b> & co"


def test_a_line_break_in_a_name_never_reaches_the_subject_header():
    email = render("Hi {{ first_name }},", {"first_name": "Eve\r\nBcc: victim@example.com"})

    assert email.subject == "Hello Eve Bcc: victim@example.com"
    message = EmailMultiAlternatives(subject=email.subject, body=email.text, to=["eve@example.com"]).message()
    assert message["Bcc"] is None


def test_rendering_inlines_css_and_keeps_the_phone_media_query():
    email = render("## A heading\n\nText.", {})
    assert '<h2 style="' in email.html
    assert "@media (max-width: 620px)" in email.html


def test_the_text_part_is_real_text_with_link_addresses():
    email = render(
        "See [your preferences]({{ preferences_url }}).\n\n**Do this** now.", {"preferences_url": "https://x/p/t/"}
    )
    assert "See your preferences (https://x/p/t/)." in email.text
    assert "Do this now." in email.text
    assert "<" not in email.text


def test_author_html_is_sanitised():
    email = render('Hello <script>alert(1)</script><a href="javascript:alert(2)">x</a>', {})
    assert "<script" not in email.html
    assert "javascript:" not in email.html
