"""The shipped course keeps the depth a coach would give: per destination a question bank, a
before-and-after resume for each profession that commonly lands there, and a composite story;
and lessons for readers the tracks miss, each sent to the readers it is written for."""

from __future__ import annotations

import re

import pytest

from course.vocabulary import Destination
from lessons.files import read_course_folder
from tests.conftest import SHIPPED_CONTENT

DESTINATIONS = [d for d in Destination.values if d != Destination.UNDECIDED]
QUESTION_RE = re.compile(r"^\*\*\d+\. .+\*\*", re.MULTILINE)
# Who commonly lands in each destination (COURSE.md, the tracks' who-hires emails).
LANDS_THERE = {
    "medical-affairs": ["pharmacist", "physician", "np", "pa"],
    "payer": ["rn", "physician", "pharmacist", "np"],
    "clinical-informatics": ["rn", "physician"],
    "health-tech-product": ["physician", "rn"],
    "consulting": ["physician", "rn"],
    "regulatory-affairs": ["pharmacist", "physician"],
    "clinical-leadership": ["rn", "physician"],
    "change-setting": ["rn", "physician"],
}


@pytest.fixture(scope="module")
def lessons():
    return {lesson.slug: lesson for lesson in read_course_folder(SHIPPED_CONTENT / "clinical-to-non-clinical").lessons}


@pytest.mark.parametrize("destination", DESTINATIONS)
def test_each_destination_has_a_question_bank_of_at_least_eight(lessons, destination):
    bank = lessons[f"{destination}-question-bank"]
    assert bank.destinations == [destination] and bank.stage == "interviewing"
    assert len(QUESTION_RE.findall(bank.body)) >= 8


@pytest.mark.parametrize("destination", DESTINATIONS)
def test_each_destination_has_a_composite_story_labelled_as_one(lessons, destination):
    story = lessons[f"{destination}-composite-story"]
    assert story.destinations == [destination]
    assert "**composite**" in story.body and "composite" in story.subject.lower()
    assert "Pay before" in story.body and "Pay after" in story.body


@pytest.mark.parametrize("destination", DESTINATIONS)
def test_each_profession_that_lands_there_has_a_full_resume(lessons, destination):
    resumes = [lesson for slug, lesson in lessons.items() if slug.startswith(f"{destination}-resume-")]
    covered = {profession for lesson in resumes for profession in lesson.professions}
    assert set(LANDS_THERE[destination]) <= covered
    for lesson in resumes:
        assert "## Before" in lesson.body and "## After" in lesson.body, lesson.slug


@pytest.mark.parametrize(
    "slug, professions",
    [
        ("img-visas-before-you-pivot", ["physician"]),
        ("residents-and-fellows-leaving-from-training", ["physician"]),
        ("pharmacists-the-industry-fellowship-route", ["pharmacist"]),
        ("cdi-clinical-documentation-integrity", ["rn", "np", "physician"]),
        ("legal-nurse-consulting", ["rn", "np"]),
    ],
)
def test_lessons_for_readers_the_tracks_miss_name_their_sources_and_reach_them(lessons, slug, professions):
    lesson = lessons[slug]
    assert lesson.professions == professions
    assert "*Sources:" in lesson.body
