"""The planner with personas over the shipped course, and properties over random journeys."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from course.planner import LessonInfo, Reader, Sent, next_email, sort_catalogue
from course.schedule import MIN_GAP, CourseClock, Timing, next_slot, zone
from course.vocabulary import ANY, Destination, Kind, Stage
from lessons.files import catalogue_of, read_course_folder
from tests.conftest import SHIPPED_CONTENT

SHIPPED = read_course_folder(SHIPPED_CONTENT / "clinical-to-non-clinical")
CATALOGUE = catalogue_of(SHIPPED)
RULES = SHIPPED.rules()
BY_SLUG = {lesson.slug: lesson for lesson in CATALOGUE}
START = datetime(2026, 1, 5, 13, tzinfo=UTC)  # a Monday, 08:00 in New York
TIMING = Timing("America/New_York", weekday=0, hour=8)


@dataclass
class Week:
    week: int
    month: int
    lesson: LessonInfo | None
    reason: str
    stage: str = ""  # the stage lessons were chosen for


def journey(
    weeks: int,
    *,
    stage: str = Stage.DECIDING,
    destination: str = Destination.UNDECIDED,
    changes: dict[int, dict] | None = None,
    paused: range = range(0),
    catalogue: list[LessonInfo] = CATALOGUE,
    published: dict[int, LessonInfo] | None = None,
) -> list[Week]:
    """Walk a reader through weekly slots: `changes` (by slot number) update stage or
    destination; slots in `paused` send nothing and do not count as course time;
    `published` adds a lesson to the catalogue from that slot on."""
    reader = Reader(stage=stage, destination=destination, clock=CourseClock(START, TIMING))
    history: list[Sent] = []
    result: list[Week] = []
    catalogue = list(catalogue)
    at = START
    for slot in range(weeks):
        if published and slot in published:
            catalogue = sort_catalogue([*catalogue, published[slot]])
        if changes and slot in changes:
            told = {"reported_week": reader.week(at)} if "stage" in changes[slot] else {}
            reader = replace(reader, **changes[slot], **told)
        if slot in paused:
            reader = replace(reader, clock=replace(reader.clock, paused_slots=reader.clock.paused_slots + 1))
            at = next_slot(at, TIMING)
            continue
        choice = next_email(reader, RULES, catalogue, history, at)
        result.append(Week(reader.week(at), reader.month(at), choice.lesson, choice.reason,
                           reader.planning_stage(reader.month(at))))  # fmt: skip
        if choice.lesson is not None:
            history.append(Sent(choice.lesson.id, choice.lesson.kind, reader.week(at), reader.month(at)))
        if choice.finished or choice.completes_course:
            break
        at = next_slot(at, TIMING)
    return result


def slugs(weeks: list[Week]) -> list[str]:
    return [w.lesson.slug for w in weeks if w.lesson is not None]


def test_a_reader_gets_the_welcome_first_and_check_ins_in_order_every_six_weeks():
    weeks = journey(60, destination=Destination.PAYER)
    assert weeks[0].lesson.kind == Kind.WELCOME
    checkins = [w for w in weeks if w.lesson and w.lesson.kind == Kind.CHECKIN]
    assert [w.week for w in checkins] == [6, 12, 18, 24, 30, 36, 42, 48]
    written = [f"checkin-{n:02d}" for n in (1, 2, 3, 4, 5, 7, 8, 13)]  # the general check-ins of the course
    assert [w.lesson.slug for w in checkins] == written, "in the order written, the last one last"
    assert len(checkins) * 6 <= len(weeks), "at most one email in six"


def test_a_reply_that_changes_the_stage_starts_the_six_weeks_again():
    weeks = journey(30, destination=Destination.PAYER, changes={9: {"stage": Stage.SEARCHING}})
    checkin_weeks = [w.week for w in weeks if w.lesson and w.lesson.kind == Kind.CHECKIN]
    assert checkin_weeks[:2] == [6, 15]  # the stage came at week 9: the next check-in six weeks later
    assert all(b - a >= 4 for a, b in itertools.pairwise(checkin_weeks))


def test_a_reader_ahead_of_the_calendar_gets_their_stages_lessons_early():
    weeks = journey(8, stage=Stage.INTERVIEWING, destination=Destination.PAYER)
    lessons = [w.lesson for w in weeks[1:] if w.lesson and w.lesson.kind == Kind.LESSON]
    assert all(w.month <= 2 for w in weeks)
    assert any(lesson.stage == Stage.INTERVIEWING for lesson in lessons)
    assert "payer-interviewing" in slugs(weeks)
    assert "ahead of the calendar" in next(w.reason for w in weeks if w.lesson and w.lesson.stage == "interviewing")


def test_a_reader_who_tells_us_they_are_still_deciding_in_month_four_gets_the_stuck_lessons():
    weeks = journey(24, changes={14: {"stage": Stage.DECIDING}})
    # Within two months of telling us, once the deciding lessons they have not had are sent.
    by_month_six = [w for w in weeks if w.month <= 6 and w.lesson]
    assert any(w.lesson.slug.startswith("stuck-deciding-") for w in by_month_six)
    assert all(not w.lesson.slug.startswith("stuck-deciding-") for w in weeks if w.month < 4 and w.lesson)
    assert "behind the calendar" in next(w.reason for w in weeks if w.lesson and w.lesson.slug.startswith("stuck"))


def test_a_reader_who_never_replies_follows_the_calendar_not_the_stuck_lessons():
    weeks = journey(53, destination=Destination.PAYER)
    assert not [slug for slug in slugs(weeks) if slug.startswith("stuck-")]
    by_month = {w.month: w for w in weeks if w.lesson and w.lesson.stage not in (ANY, Stage.LANDED)}
    assert by_month[4].lesson.stage == Stage.SEARCHING and "following the calendar" in by_month[4].reason
    assert by_month[8].lesson.stage == Stage.INTERVIEWING


def test_a_reader_on_the_calendar_never_gets_stuck_lessons():
    weeks = journey(
        53, destination=Destination.CONSULTING,
        changes={9: {"stage": Stage.SEARCHING}, 24: {"stage": Stage.INTERVIEWING}},
    )  # fmt: skip
    assert not [slug for slug in slugs(weeks) if slug.startswith("stuck-")]


def test_switching_to_medical_affairs_in_month_five_changes_the_track_from_the_next_email():
    switch_slot = 18  # month 5
    weeks = journey(
        30, destination=Destination.PAYER,
        changes={switch_slot: {"destination": Destination.MEDICAL_AFFAIRS, "stage": Stage.SEARCHING}},
    )  # fmt: skip
    before, after = weeks[:switch_slot], weeks[switch_slot:]
    assert any(w.lesson and "payer" in w.lesson.destinations for w in before)
    assert not any(w.lesson and "payer" in w.lesson.destinations for w in after)
    first_track = next(w.lesson for w in after if w.lesson and w.lesson.destinations != (ANY,))
    assert first_track.destinations == (Destination.MEDICAL_AFFAIRS,)
    assert len(slugs(weeks)) == len(set(slugs(weeks))), "no lesson is sent twice"


def test_a_six_week_pause_stops_course_time_and_resume_continues_where_it_left_off():
    plain = journey(20, destination=Destination.PAYER)
    paused = journey(26, destination=Destination.PAYER, paused=range(8, 14))
    assert slugs(paused)[:17] == slugs(plain)[:17]
    assert [w.month for w in paused] == [w.month for w in plain][: len(paused)]


def test_a_reader_who_lands_in_month_seven_gets_the_first_90_days_then_completion():
    weeks = journey(
        60, destination=Destination.CLINICAL_INFORMATICS,
        changes={10: {"stage": Stage.SEARCHING}, 26: {"stage": Stage.INTERVIEWING}, 30: {"stage": Stage.LANDED}},
    )  # fmt: skip
    landed = [w for w in weeks if w.week >= 30]
    assert landed[0].month == 7
    landed_slugs = [w.lesson.slug for w in landed if w.lesson]
    assert landed_slugs[-1] == "completion"
    assert landed[-1].week - 30 >= 13, "completion about 90 days after landing, not before"
    assert "clinical-informatics-first-90-days" in landed_slugs
    assert [w.week - 30 for w in landed if w.lesson and w.lesson.kind == Kind.CHECKIN] == [4, 8]
    assert all(w.lesson is not None for w in landed), "an email every week until completion"
    series = [w.week - 30 for w in landed if w.lesson and w.lesson.stage == Stage.LANDED and w.lesson.teaches]
    assert series == [0, 3, 6, 9, 12], "the first-90-days series spread over twelve weeks"


def test_a_reader_who_chooses_change_setting_gets_that_track_and_no_other():
    weeks = journey(53, destination=Destination.CHANGE_SETTING, changes={10: {"stage": Stage.SEARCHING}})
    track = {d for w in weeks if w.lesson for d in w.lesson.destinations if d != ANY}
    assert track == {Destination.CHANGE_SETTING}
    assert "change-setting-getting-in" in slugs(weeks)


def test_a_lesson_published_after_enrolment_reaches_a_reader_mid_course():
    new = LessonInfo(9999, "new-payer-lesson", Kind.LESSON, ANY, (Destination.PAYER,), 1, 15)
    weeks = journey(20, destination=Destination.PAYER, published={10: new})
    assert "new-payer-lesson" in slugs(weeks)
    position = slugs(weeks).index("new-payer-lesson")
    assert weeks[[w.lesson.slug if w.lesson else "" for w in weeks].index("new-payer-lesson")].week >= 10
    assert position > 0


def test_after_month_twelve_the_completion_email_finishes_the_course():
    weeks = journey(60, destination=Destination.PAYER)
    assert weeks[-1].lesson.kind == Kind.COMPLETION
    assert weeks[-1].month == 13
    assert sum(1 for w in weeks if w.lesson is None) == 0, "no week without an email on this path"


# --- Properties ---------------------------------------------------------------------------

ZONES = ["America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kolkata", "America/Sao_Paulo", "UTC"]
INSTANTS = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC))
# A reader's weekly timing: time zone, weekday, local hour.
TIMINGS = {"tz": st.sampled_from(ZONES), "weekday": st.integers(0, 6), "hour": st.integers(0, 23)}


@settings(max_examples=300, deadline=None)
@given(after=INSTANTS, **TIMINGS)
def test_the_next_slot_is_in_the_future_on_the_readers_weekday_at_their_hour(after, tz, weekday, hour):
    slot = next_slot(after, Timing(tz, weekday, hour))
    local = slot.astimezone(zone(tz))
    assert slot - after > MIN_GAP
    assert slot - after <= timedelta(days=7) + MIN_GAP + timedelta(hours=1)
    assert local.weekday() == weekday
    # A local hour that does not exist that day moves forward by the gap (at most an hour here).
    assert local.hour == hour or ((local.hour - hour) % 24 == 1 and local.minute == 0)


@settings(max_examples=200, deadline=None)
@given(enrolled=INSTANTS, late=st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=36)), **TIMINGS)
def test_course_weeks_are_the_slots_since_enrolment_at_any_hour_zone_and_delay(enrolled, tz, weekday, hour, late):
    """The welcome is week 0 and each weekly slot one more, even when the tick runs up to 36 h late."""
    timing = Timing(tz, weekday, hour)
    clock = CourseClock(enrolled, timing)
    at, weeks = enrolled, []
    for _ in range(60):
        weeks.append(clock.week(at + late if at != enrolled else at))
        at = next_slot(at, timing)
    assert weeks == list(range(60))


@st.composite
def journeys(draw):
    changes = {}
    for slot in sorted(draw(st.sets(st.integers(1, 55), max_size=6))):
        changes[slot] = draw(
            st.fixed_dictionaries(
                {}, optional={"stage": st.sampled_from(list(Stage)), "destination": st.sampled_from(list(Destination))}
            )
        )
    start = draw(st.integers(8, 40))
    paused = range(start, start + draw(st.integers(0, 8)))
    return changes, paused


@settings(max_examples=150, deadline=None)
@given(journeys())
def test_random_journeys_never_repeat_a_lesson_and_always_fit_the_reader(plan):
    changes, paused = plan
    weeks = journey(70, changes=changes, paused=paused)
    sent = slugs(weeks)
    assert len(sent) == len(set(sent))
    assert sent[0] == "welcome"
    assert sent.count("completion") <= 1
    assert all(w.month <= RULES.length_months + 1 for w in weeks)


# --- The journey rules: essentials, triggers, targeting ---------------------------------------

ESSENTIALS = [lesson for lesson in CATALOGUE if lesson.essential_by is not None]


@settings(max_examples=40, deadline=None)
@given(
    destination=st.sampled_from([d for d in Destination if d != Destination.CHANGE_SETTING]),
    start=st.sampled_from([Stage.DECIDING, Stage.CONVERSATIONS]),
    reply=st.one_of(st.none(), st.tuples(st.integers(1, 30), st.sampled_from(list(Stage)[:4]))),
)
def test_every_essential_lesson_that_fits_arrives_by_its_month(destination, start, reply):
    changes = {reply[0]: {"stage": reply[1]}} if reply else None
    weeks = journey(53, stage=start, destination=destination, changes=changes)
    sent = {w.lesson.slug: w.month for w in weeks if w.lesson}
    reader = Reader(stage=start, destination=destination, clock=CourseClock(START, TIMING))
    order = list(Stage)
    for lesson in ESSENTIALS:
        # It fits a reader who is at or past its stage from its month to its deadline.
        reached = lesson.stage == ANY or all(
            order.index(Stage(w.stage)) >= order.index(Stage(lesson.stage))
            for w in weeks
            if lesson.month <= w.month <= lesson.essential_by
        )
        if lesson.targets(reader) and reached:
            assert lesson.slug in sent, f"{lesson.slug} never arrived"
            assert sent[lesson.slug] <= lesson.essential_by, f"{lesson.slug} came in month {sent[lesson.slug]}"


def test_reporting_interviewing_brings_the_negotiation_lesson_within_two_emails():
    weeks = journey(
        30, stage=Stage.SEARCHING, destination=Destination.PAYER, changes={14: {"stage": Stage.INTERVIEWING}}
    )
    after = [w.lesson.slug for w in weeks[14:] if w.lesson and w.lesson.kind == Kind.LESSON]
    assert "interviewing-talking-pay-and-negotiating" in after[:2]
    assert "interviewing-comparing-offers-to-the-household-number" in after[:3]


def test_change_setting_readers_never_get_the_leaving_clinical_work_lessons():
    weeks = journey(53, destination=Destination.CHANGE_SETTING, changes={10: {"stage": Stage.SEARCHING},
                                                                        24: {"stage": Stage.INTERVIEWING}})  # fmt: skip
    assert not {"interviewing-why-are-you-leaving-clinical-work", "conversations-clinical-cv-to-resume"} & set(
        slugs(weeks)
    )


def test_a_lesson_for_one_profession_license_plan_or_pay_need_reaches_only_those_readers():
    lesson = LessonInfo(1, "rn-only", Kind.LESSON, ANY, (ANY,), 1, 1, professions=("rn",), license_plans=("keep",),
                        pay_needs=("match", "modest-drop"), not_for=("payer",))  # fmt: skip
    nurse = Reader(Stage.DECIDING, "consulting", CourseClock(START, TIMING), "rn", "keep", "match")
    assert lesson.targets(nurse)
    assert not lesson.targets(replace(nurse, profession="physician"))
    assert not lesson.targets(replace(nurse, license_plan="let-go"))
    assert not lesson.targets(replace(nurse, pay_need="flexible"))
    assert not lesson.targets(replace(nurse, destination="payer"))
