"""Pay figures with their sources: the pay file, its tags in lessons, validation, and the plan
page's household worksheet."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine
from django.test import Client

from lessons import pay
from lessons.files import read_course_folder
from lessons.importing import import_path
from subscribers.plan import worksheet
from subscribers.readers.links import plan_url
from tests.conftest import SHIPPED_CONTENT, TEST_COURSE, enrol

COURSE = SHIPPED_CONTENT / "clinical-to-non-clinical"
LESSON = "---\nslug: {slug}\nsubject: S\nkind: lesson\nstage: any\ndestinations: any\nmonth: 1\norder: 1\n---\n"
PAY_FILE = """\
sources:
  bls:
    name: U.S. Bureau of Labor Statistics, May 2023
    short: BLS
    period: May 2023
    year: 2023
    url: https://www.bls.gov/oes/
figures:
  rn:
    label: Registered nurses
    kind: median
    value: 86070
    includes: Wages before overtime
    source: bls
    groups: [professions]
    who: [rn]
  um-nurse:
    label: UM nurse
    kind: range
    low: 80000
    high: 100000
    includes: Posted base pay
    source: bls
    groups: [payer]
    who: [rn]
"""


def course_with(tmp_path: Path, body: str, pay_file: str | None = PAY_FILE) -> Path:
    folder = tmp_path / "test-course"
    shutil.copytree(TEST_COURSE, folder)
    (folder / "uses-pay.md").write_text(LESSON.format(slug="uses-pay") + body)
    if pay_file is not None:
        (folder / pay.PAY_FILE).write_text(pay_file)
    return folder


def problems_of(folder: Path) -> list[str]:
    return [str(problem) for problem in read_course_folder(folder).problems]


def test_the_shipped_pay_file_names_a_source_and_year_for_every_figure():
    table, problems = pay.read_pay_file(COURSE / pay.PAY_FILE)
    assert problems == []
    wanted = {"physician-primary-care", "physician-hospital-medicine", "physician-surgical-procedural", "np", "pa",
              "rn", "pharmacist", "msl", "um-nurse", "consultant-entry-mba", "health-services-manager"}  # fmt: skip
    assert wanted <= set(table.figures)
    for figure in table.figures.values():
        assert figure.source.url.startswith("https://") and 2020 <= figure.source.year <= 2026, figure.key
        assert figure.includes and figure.central > 0, figure.key


def test_a_figure_reads_with_its_amount_kind_and_short_source():
    table, _ = pay.read_pay_file(COURSE / pay.PAY_FILE)
    assert table.figures["rn"].text == "$86,070 median (BLS OEWS, May 2023)"
    assert table.figures["physician-surgical-procedural"].amount == "$499,000 to $543,000"
    assert table.figures["nurse-informaticist"].amount == "over $100,000"
    assert table.figures["consultant-entry-mba"].amount == "$192,000"


def test_tags_become_figures_and_a_table_and_the_email_ends_with_each_source_line(tmp_path):
    folder = course_with(tmp_path, "Nurses earn {{ pay:rn }}.\n\n[[pay-table payer]]\n\nThis week: ask.\n")
    (lesson,) = [lesson for lesson in read_course_folder(folder).lessons if lesson.slug == "uses-pay"]
    assert "Nurses earn $86,070 median (BLS, May 2023)." in lesson.body
    assert "| UM nurse | $80,000 to $100,000 | Posted base pay | BLS, May 2023 |" in lesson.body
    assert lesson.body.rstrip().endswith(
        f"{pay.SOURCES_HEADING}\n\n- BLS, May 2023: U.S. Bureau of Labor Statistics, May 2023. <https://www.bls.gov/oes/>"
    )
    assert "{{" not in lesson.body and "[[" not in lesson.body


@pytest.mark.parametrize(
    "body, expected",
    [
        ("Pay: {{ pay:rnn }}\n", "uses-pay.md:10: unknown pay figure 'rnn' (did you mean 'rn'?)"),
        ("One\n\n[[pay-table payers]]\n", "uses-pay.md:12: unknown pay-table group 'payers' (did you mean 'payer'?)"),
        ("Pay: {{ pay:zzz }}\n", "unknown pay figure 'zzz' (known: rn, um-nurse)"),
    ],
)
def test_validate_fails_on_an_unknown_figure_or_group_and_names_the_closest(tmp_path, body, expected):
    problems = problems_of(course_with(tmp_path, body))
    assert any(expected in problem for problem in problems), problems


def test_validate_fails_on_pay_tags_without_a_pay_file_and_on_a_figure_without_a_source(tmp_path):
    assert any("no pay.yaml" in p for p in problems_of(course_with(tmp_path / "a", "Pay: {{ pay:rn }}\n", None)))
    unsourced = PAY_FILE.replace("    source: bls\n    groups: [professions]", "    groups: [professions]")
    problems = problems_of(course_with(tmp_path / "b", "Pay: {{ pay:rn }}\n", unsourced))
    assert any("pay.yaml:9: figure 'rn': missing source" in p for p in problems), problems
    assert any("unknown pay figure 'rn'" in p for p in problems), "the unsourced figure is not written"
    wrong = PAY_FILE.replace("source: bls\n    groups: [payer]", "source: blss\n    groups: [payer]")
    problems = problems_of(course_with(tmp_path / "c", "x", wrong))
    assert any("unknown source 'blss' (did you mean 'bls'?)" in p for p in problems), problems


def test_every_shipped_lesson_that_uses_a_figure_carries_its_sources():
    bodies = {path.stem: path.read_text() for path in COURSE.glob("*.md")}
    users = {slug for slug, text in bodies.items() if pay.FIGURE_RE.search(text) or pay.TABLE_RE.search(text)}
    assert {f"{track}-pay-reality" for track in ("payer", "medical-affairs", "consulting", "undecided")} <= users
    placed = {lesson.slug: lesson.body for lesson in read_course_folder(COURSE).lessons}
    for slug in users:
        assert pay.SOURCES_HEADING in placed[slug], slug
        assert not pay.FIGURE_RE.search(placed[slug]) and not pay.TABLE_RE.search(placed[slug]), slug
    assert "relative terms" not in "".join(bodies.values())


def test_every_track_has_a_names_lesson():
    for track in ("payer", "medical-affairs", "consulting", "clinical-informatics", "regulatory-affairs",
                  "clinical-leadership", "health-tech-product", "change-setting", "undecided"):  # fmt: skip
        assert (COURSE / f"{track}-names-to-know.md").is_file(), track


def _reader(db_course=None, **profile):
    (report,) = import_path(COURSE)
    fields = {"first_name": "Ines", "specialty": "ICU nurse", "profession": "rn", "destination": "payer",
              "license_plan": "keep", "pay_need": "match", "time_zone": "America/Chicago", "send_hour": 7}  # fmt: skip
    return enrol(report.course, f"{profile.get('first_name', 'ines').lower()}@example.com", **{**fields, **profile})


def test_the_worksheet_sets_a_nurse_against_her_track_in_dollars_and_percent(db):
    sheet = worksheet.build(_reader())
    assert sheet.benchmark.key == "rn" and sheet.need == "We need my current pay, or close to it"
    first = sheet.rows[0]
    assert (first.track, first.figure.key, first.yours) == ("Payer", "um-nurse", True)
    assert first.gap_dollars == 93912 - 86070 and first.gap == "+$7,842 (+9%)"
    assert first.reading == "At or above your benchmark."
    assert "msl" not in {row.figure.key for row in sheet.rows}, "only roles nurses commonly land in"
    assert "Health tech product" in sheet.unsourced
    assert {source.short for source in sheet.sources} >= {"BLS OEWS", "Vivian Health job postings"}


@pytest.mark.parametrize(
    "specialty, expected",
    [("Orthopedic surgery", "physician-surgical-procedural"), ("Family medicine", "physician-primary-care"),
     ("Hospitalist", "physician-hospital-medicine"), ("Nephrology", "physician-specialist"),
     ("", "physician-specialist")],
)  # fmt: skip
def test_a_physician_is_benchmarked_by_specialty_group(db, specialty, expected):
    sheet = worksheet.build(_reader(profession="physician", specialty=specialty, destination="consulting"))
    assert sheet.benchmark.key == expected


def test_the_reading_follows_what_the_household_needs():
    assert worksheet.reading(-12, worksheet.PayNeed.MATCH).startswith("A drop your household said it cannot take")
    assert worksheet.reading(-12, worksheet.PayNeed.MODEST_DROP).startswith("A modest drop: workable")
    assert worksheet.reading(-40, worksheet.PayNeed.MODEST_DROP).startswith("More than a modest drop")
    assert worksheet.reading(-40, worksheet.PayNeed.FLEXIBLE).startswith("A large cut. You said pay")
    assert worksheet.reading(-2, worksheet.PayNeed.MATCH) == "About the same as your benchmark."


def test_a_primary_care_physician_sees_the_mba_level_consulting_gap(db):
    sheet = worksheet.build(
        _reader(profession="physician", specialty="Family medicine", destination="consulting", pay_need="modest-drop")
    )
    rows = {row.figure.key: row for row in sheet.rows}
    assert rows["consultant-entry-mba"].gap == "\u2212$89,000 (\u221232%)"
    assert rows["consultant-entry-mba"].reading.startswith("More than a modest drop")
    assert rows["consultant-entry-mba-first-year"].gap.startswith("at least \u2212$14,000")
    assert "consultant-entry-undergrad" not in rows


def test_the_plan_page_shows_the_worksheet_with_sources(db):
    with time_machine.travel(datetime(2026, 3, 2, 14, tzinfo=UTC), tick=False):
        reader = _reader()
        response = Client().get(plan_url(reader).removeprefix("http://127.0.0.1:8000"))
    page = response.content.decode()
    assert response.status_code == 200
    assert "Your household worksheet" in page and "Registered nurses, $86,070 median" in page
    assert "+$7,842 (+9%)" in page and "(your track)" in page
    assert "https://www.bls.gov/oes/" in page and "No sourced figure yet for:" in page
