"""Validation that helps: the closest names for a near miss, malformed link addresses, a progress
bar on long imports, and course_map naming the known courses."""

from __future__ import annotations

import shutil
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from lessons.importing import import_path, lesson_file_count
from lessons.suggest import url_problem
from tests.conftest import TEST_COURSE

HEAD = "---\nslug: x\nsubject: S\nkind: lesson\nstage: any\ndestinations: any\nmonth: 1\norder: 1\n---\n"


def problems_for(tmp_path: Path, text: str) -> list[str]:
    folder = tmp_path / "test-course"
    shutil.copytree(TEST_COURSE, folder)
    (folder / "x.md").write_text(text)
    out = StringIO()
    with pytest.raises(CommandError, match="problem"):
        call_command("validate_lessons", str(folder), stdout=out, stderr=StringIO())
    return out.getvalue().splitlines()


@pytest.mark.parametrize(
    "text, expected",
    [
        (HEAD + "Hi {{ first_nmae }},", "x.md:10: unknown placeholder first_nmae: did you mean first_name?"),
        (HEAD.replace("destinations: any", "destinations: [payr]"),
         "x.md:6: unknown destination 'payr': did you mean payer? (one of undecided,"),
        (HEAD.replace("stage: any", "stage: serching"), "x.md:5: unknown stage 'serching': did you mean searching?"),
        (HEAD.replace("kind: lesson", "kind: leson"), "x.md:4: unknown kind 'leson': did you mean lesson?"),
        (HEAD.replace("order: 1\n", "order: 1\ndestination: payer\n"),
         "x.md:9: unknown front matter field 'destination': did you mean destinations?"),
        (HEAD.replace("order: 1\n", "order: 1\nprofessions: [nures]\n"),
         "x.md:9: unknown professions value 'nures'"),
        (HEAD + "See [it](lesson:payer-onyl).",
         "x.md:10: link to unknown lesson 'payer-onyl': did you mean payer-only?"),
        (HEAD + "Read [the guide](htps://example.org/guide).",
         "x.md:10: link address 'htps://example.org/guide' has an unknown scheme htps: did you mean https"),
        (HEAD + "One\n\nRead [the guide](www.example.org/guide).",
         "x.md:12: link address 'www.example.org/guide' has no https:// in front"),
        (HEAD + "Read [the guide](https:/example.org).", "x.md:10: link address 'https:/example.org' needs https://"),
        (HEAD + "Write [to us](mailto:help-at-example.org).", "x.md:10: link address 'mailto:help-at-example.org'"),
        (HEAD + "Read [the guide](https://example .org).", "x.md:10: link address 'https://example .org' has a space"),
        (HEAD + "Read [the guide]().", "x.md:10: empty link address"),
    ],
)  # fmt: skip
def test_validate_suggests_the_closest_name_and_catches_malformed_links(tmp_path, text, expected):
    lines = problems_for(tmp_path, text)
    assert any(expected in line for line in lines), lines


def test_working_link_addresses_pass():
    for address in ("https://www.bls.gov/ooh/", "http://example.org/a_(b)", "mailto:help@example.org",
                    "lesson:welcome", "{{ preferences_url }}", "#top", 'https://example.org "Title"'):  # fmt: skip
        assert url_problem(address) == "", address


def test_an_unknown_course_setting_gets_a_suggestion(tmp_path):
    folder = tmp_path / "test-course"
    shutil.copytree(TEST_COURSE, folder)
    course_file = folder / "course.yaml"
    course_file.write_text(course_file.read_text() + "lenght_months: 3\n")
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("validate_lessons", str(folder), stdout=out, stderr=StringIO())
    assert "unknown setting 'lenght_months': did you mean length_months?" in out.getvalue()


def test_the_admin_editor_suggests_the_placeholder_and_catches_a_bad_link(course, client, django_user_model):
    from lessons.models import Lesson

    client.force_login(django_user_model.objects.create_superuser("ada", "ada@example.com", "a-long-password-1"))
    lesson = Lesson.objects.get(course=course, slug="lesson-1")
    preview = client.post(f"/admin/lessons/lesson/{lesson.pk}/preview/",
                          {"subject": "S", "body": "Hi {{ frist_name }}, see [this](htp://example.org)."})  # fmt: skip
    problems = preview.json()["problems"]
    assert "unknown placeholder frist_name: did you mean first_name?" in problems
    assert any("unknown scheme htp: did you mean http" in problem for problem in problems)


def test_a_long_import_reports_progress_file_by_file(db):
    steps: list[int] = []
    import_path(TEST_COURSE, progress=steps.append)
    files = len(list(TEST_COURSE.glob("*.md")))
    assert lesson_file_count(TEST_COURSE) == files
    assert sum(steps) == 2 * files and steps.count(1) == files


def test_course_map_for_an_unknown_course_names_the_known_ones(course):
    with pytest.raises(CommandError) as error:
        call_command("course_map", "--course", "test-corse")
    assert str(error.value) == "no course 'test-corse': did you mean test-course? (known courses: test-course)"
