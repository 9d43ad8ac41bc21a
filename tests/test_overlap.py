"""One place per idea: validation refuses two lessons sharing a 40-word passage; snippets say a
passage once for many lessons."""

from __future__ import annotations

import shutil
from pathlib import Path

from lessons.files import read_course_folder
from lessons.importing import import_path
from lessons.models import Lesson
from lessons.overlap import SHARED_WORDS
from lessons.rendering import render_lesson
from tests.conftest import TEST_COURSE
from tests.test_authoring import validate

# 46 words, written once.
PASSAGE = (
    "Once a license has been inactive for a few years, returning usually means a reentry process: "
    "board review, sometimes a refresher program, a period of supervised practice, or exams. The "
    "longer you are out, the harder and more expensive the road back becomes for most people."
)


def lesson(slug: str, body: str, order: int = 50) -> str:
    return (
        f'---\nslug: {slug}\nsubject: "{slug}"\nkind: lesson\nstage: any\ndestinations: any\n'
        f"month: 1\norder: {order}\n---\n{body}\n"
    )


def course_with(tmp_path: Path, **files: str) -> Path:
    folder = tmp_path / "test-course"
    shutil.copytree(TEST_COURSE, folder)
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    return folder


def test_two_lessons_sharing_a_passage_fail_naming_both_and_where_it_starts(tmp_path):
    folder = course_with(
        tmp_path,
        **{
            "license-a.md": lesson("license-a", f"## The door\n\n{PASSAGE}", order=51),
            "license-b.md": lesson("license-b", f"Something else first.\n\n{PASSAGE}\n\nAnd a close.", order=52),
        },
    )
    lines, error = validate(folder)
    assert error == "1 problem(s) found"
    (line,) = lines
    expected = f"{folder / 'license-b.md'}:12: shares a passage of 46 words with license-a (license-a.md:12)"
    assert line.startswith(expected)
    assert "starting 'once a license has been inactive for a…'" in line


def test_case_punctuation_and_markdown_do_not_hide_a_copy(tmp_path):
    changed = PASSAGE.upper().replace(":", " —").replace(",", "").replace("exams.", "**exams**;")
    folder = course_with(
        tmp_path,
        **{"a.md": lesson("a", PASSAGE), "b.md": lesson("b", f"- {changed}")},
    )
    lines, _ = validate(folder)
    assert len(lines) == 1 and "b.md:10: shares a passage of 46 words with a (a.md:10)" in lines[0]


def test_a_passage_one_word_short_of_the_limit_is_allowed(tmp_path):
    words = PASSAGE.split()
    short = " ".join(words[: SHARED_WORDS - 1])
    folder = course_with(
        tmp_path,
        **{
            "a.md": lesson("a", f"{short} and then this lesson goes its own way entirely."),
            "b.md": lesson("b", f"{short} but this one turns somewhere different."),
        },
    )
    assert validate(folder) == ([], "")


def test_a_snippet_is_said_once_and_placed_in_every_lesson_that_uses_it(db, tmp_path):
    folder = course_with(
        tmp_path,
        **{
            "snippets/license-door.md": PASSAGE + "\n",
            "a.md": lesson("a", "Read this first.\n\n{{> license-door }}\n\nThen decide."),
            "b.md": lesson("b", "{{> license-door }}"),
        },
    )
    assert validate(folder) == ([], "")
    bodies = {item.slug: item.body for item in read_course_folder(folder).lessons}
    assert PASSAGE in bodies["a"] and PASSAGE in bodies["b"] and "{{>" not in bodies["a"] + bodies["b"]

    import_path(folder)
    version = Lesson.objects.get(course__slug="test-course", slug="a").current_version
    rendered = render_lesson(version.pk, version.subject, version.body, "Test").personalise({"first_name": "Ana"})
    assert "Read this first." in rendered.text and "the road back becomes" in rendered.text


def test_an_edited_snippet_makes_new_versions_and_keeps_what_was_sent(db, tmp_path):
    folder = course_with(
        tmp_path, **{"snippets/door.md": "Old words.\n", "a.md": lesson("a", "{{> door }}\n\n" + "Filler. " * 10)}
    )
    import_path(folder)
    (folder / "snippets" / "door.md").write_text("New words.\n")
    (report,) = import_path(folder)
    assert report.new_versions == 1
    versions = Lesson.objects.get(course__slug="test-course", slug="a").versions.order_by("number")
    assert ["Old words." in v.body for v in versions] == [True, False]
    assert "New words." in versions.last().body


def test_an_unknown_snippet_is_named_with_its_line(tmp_path):
    folder = course_with(
        tmp_path, **{"snippets/stages.md": "1. One\n", "a.md": lesson("a", "Text.\n\n{{> stage-list }}")}
    )
    lines, error = validate(folder)
    assert error
    assert lines == [f"{folder / 'a.md'}:12: unknown snippet 'stage-list' (known: stages; files in snippets/)"]


def test_a_snippet_with_an_unknown_placeholder_is_refused(tmp_path):
    folder = course_with(tmp_path, **{"snippets/hello.md": "Hi {{ nickname }}\n", "a.md": lesson("a", "{{> hello }}")})
    lines, _ = validate(folder)
    assert len(lines) == 1 and lines[0].startswith(
        f"{folder / 'snippets' / 'hello.md'}:1: unknown placeholder nickname"
    )
