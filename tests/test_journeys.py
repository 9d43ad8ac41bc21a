"""The journey check: twelve personas through a year of the shipped course, and the rules it holds."""

from __future__ import annotations

from datetime import UTC, datetime

from django.core.management import call_command

from course import planner
from course.schedule import CourseClock, Timing
from lessons.importing import import_path
from lessons.models import Lesson
from subscribers.ops.journeys import PERSONAS, Journey, Persona, Week, check, run
from tests.conftest import SHIPPED_CONTENT

CLOCK = CourseClock(datetime(2026, 1, 5, 14, tzinfo=UTC), Timing("America/Chicago", 0, 8))


def test_every_persona_gets_a_year_that_keeps_the_rules(db):
    (report,) = import_path(SHIPPED_CONTENT / "clinical-to-non-clinical")
    journeys = run(report.course, datetime(2026, 1, 5, 9, tzinfo=UTC))
    assert len(journeys) == len(PERSONAS) >= 12
    assert {journey.persona.name: journey.problems for journey in journeys} == {p.name: [] for p in PERSONAS}
    silent = next(journey for journey in journeys if journey.persona.name == "silent-sam")
    assert [w.week for w in silent.weeks] == list(range(54))  # weeks 0-52, then completion in week 53
    assert silent.weeks[-1].kind == "completion"
    # Every check-in written for every reader reaches one who never replies, in order, the last one last.
    general = sorted((lesson.month, lesson.order, lesson.slug) for lesson in Lesson.objects.filter(
        course=report.course, kind="checkin", stage="any"
    ).values_list("month", "order", "slug", named=True))  # fmt: skip
    assert [w.slug for w in silent.weeks if w.kind == "checkin"] == [slug for _, _, slug in general]
    fast = next(journey for journey in journeys if journey.persona.name == "fast-farah")
    landed_at = next(w.week for w in fast.weeks if w.reply.startswith("5"))
    assert fast.weeks[-1].kind == "completion" and fast.weeks[-1].week - landed_at >= planner.LANDED_WEEKS


def test_the_command_writes_the_report_and_names_each_persona(db, tmp_path, capsys):
    import_path(SHIPPED_CONTENT / "clinical-to-non-clinical")
    out = tmp_path / "journeys.html"
    call_command("journeys", "--start", "2026-03-02T09:00Z", "--out", str(out), "--show", "setting-sage")
    printed = capsys.readouterr().out
    assert all(f"ok   {persona.name}" in printed for persona in PERSONAS)
    assert "setting-sage: a nurse staying in care" in printed and " wk 52 · " in printed
    html = out.read_text()
    assert all(f"id='{persona.name}'" in html for persona in PERSONAS)


def _week(week: int, kind: str = "lesson", slug: str = "", **fields) -> Week:
    return Week(week, week, 1 + week // 5, kind, slug or f"{kind}-{week}", "subject", "why", "deciding", "active",
                **fields)  # fmt: skip


def test_the_check_names_each_broken_rule_and_its_week():
    catalogue = [
        planner.LessonInfo(1, "checkin-01", "checkin", "any", ("any",), 1, 5),
        planner.LessonInfo(2, "checkin-02", "checkin", "any", ("any",), 2, 5),
        planner.LessonInfo(3, "for-nurses", "lesson", "any", ("any",), 1, 10, professions=("rn",)),
        planner.LessonInfo(4, "must-read", "lesson", "any", ("any",), 1, 20, essential_by=2),
    ]
    reader = planner.Reader("deciding", "payer", CLOCK, profession="physician")
    weeks = [_week(0, "welcome"), _week(1, slug="checkin-02", kind="checkin"), _week(2, slug="for-nurses",
             targeted=False), Week(3, 3, 1, "", "", "", "no email this week", "deciding", "active"),
             _week(4, slug="checkin-01", kind="checkin"), _week(5, slug="for-nurses"),
             _week(10, kind="completion")]  # fmt: skip
    journey = Journey(Persona("test", "a made-up year", {}), weeks)
    check(journey, reader, catalogue)
    assert journey.problems == [
        "week 3: no email while active (no email this week)",
        "week 2: for-nurses is targeted away from this reader",
        "for-nurses sent twice",
        "2 check-ins in 6 emails: more than one in six",
        "week 4: a check-in 3 weeks after the last",
        "check-ins out of order: checkin-02, checkin-01",
        "essential must-read (by month 2) came never",
    ]
