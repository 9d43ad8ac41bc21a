"""The reader's plan (DESIGN.md flow 8): what they told us, what the course does with each answer,
the phases of their year, and the next emails with the planner's reasons.

Built fresh from the reader's row, the catalogue and the planner's own preview each time, so it
changes the moment their answers, stage or track change. The consequences name real lessons of
the course (title and month), chosen by the same targeting the planner uses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from course.planner import STAGE_START_MONTH, LessonInfo
from course.schedule import zone
from course.vocabulary import ANY, Destination, Kind, LicensePlan, PayNeed, Profession, Stage, Vocabulary
from lessons.catalogue import Catalogue
from lessons.models import Lesson
from subscribers.models import Subscriber
from subscribers.plan.coming import preview_for
from subscribers.readers.course_time import reader_state

PHASES = (
    (1, 3, "Diagnosis and conversations", "what you are leaving, where you could go, twenty people who moved"),
    (3, 6, "A targeted search", "a short list of organisations, warm introductions and a resume for each posting"),
    (6, 12, "Interviews and offers", "non-clinical interview loops, negotiating, and saying yes well"),
)  # fmt: skip


@dataclass(frozen=True)
class Answer:
    question: str
    answer: str
    consequence: str


@dataclass(frozen=True)
class Phase:
    months: str
    title: str
    what: str
    now: bool


@dataclass(frozen=True)
class Coming:
    when: str
    title: str
    why: str


@dataclass(frozen=True)
class Plan:
    subscriber: Subscriber
    month: int
    answers: list[Answer]
    phases: list[Phase]
    coming: list[Coming]
    essentials: list[tuple[str, int, bool]]  # title, by month, already sent


def build(subscriber: Subscriber, now: datetime | None = None, weeks: int = 8) -> Plan:
    now = now or timezone.now()
    catalogue = Catalogue.load()
    lessons = catalogue.lessons.get(subscriber.course_id, [])
    titles = dict(Lesson.objects.filter(course_id=subscriber.course_id).values_list("id", "current_version__subject"))
    reader = reader_state(subscriber)
    month = min(reader.month(now), 12)
    sent = set(subscriber.deliveries.values_list("lesson_id", flat=True))
    fitting = [lesson for lesson in lessons if lesson.kind in (Kind.LESSON, Kind.MILESTONE) and lesson.targets(reader)]

    def named(lesson: LessonInfo | None) -> str:
        return f"“{_title(titles, lesson)}” (month {lesson.month})" if lesson else ""

    answers = [
        _profession(subscriber),
        _destination(subscriber, fitting, named),
        _license(subscriber, fitting, named),
        _pay(subscriber, fitting, named),
        _stage(subscriber, reader.reported, reader.planning_stage(month)),
    ]
    stage = reader.planning_stage(month)
    phases = [
        Phase(f"months {first} to {last}", title, what, _in_phase(first, last, month, stage))
        for first, last, title, what in PHASES
    ]
    coming = []
    if subscriber.status in (Subscriber.Status.ACTIVE, Subscriber.Status.PAUSED):
        tz = zone(subscriber.time_zone)
        for slot in preview_for(subscriber, weeks=weeks, now=now):
            title = _title(titles, slot.lesson) if slot.lesson else "No email this week"
            coming.append(
                Coming(
                    f"{slot.at.astimezone(tz):%a %-d %b}", title, _plain_reason(slot.reason, subscriber.course.words)
                )
            )
    essentials = [
        (_title(titles, lesson), lesson.essential_by, lesson.id in sent)
        for lesson in sorted(fitting, key=lambda lesson: lesson.essential_by or 13)
        if lesson.essential_by is not None
    ]
    return Plan(subscriber, month, answers, phases, coming, essentials)


def _title(titles: dict[int, str], lesson: LessonInfo) -> str:
    return (titles.get(lesson.id) or lesson.slug).replace("{{ course_month }}", "").replace("  ", " ")


def _first(fitting: list[LessonInfo], test) -> LessonInfo | None:
    return next((lesson for lesson in fitting if test(lesson)), None)


def _profession(subscriber: Subscriber) -> Answer:
    who = Profession(subscriber.profession).label if subscriber.profession else "Clinician"
    specialty = f", {subscriber.specialty}" if subscriber.specialty else ""
    return Answer(
        "Your work now",
        f"{who}{specialty}",
        "Lessons written for your profession reach you and those for other professions do not; the examples "
        "and the pay comparisons start from where you are now, not from an average clinician.",
    )


def _destination(subscriber: Subscriber, fitting: list[LessonInfo], named) -> Answer:
    destination = subscriber.destination
    label = subscriber.course.words.destination_label(destination)  # the course's own track names
    track = [lesson for lesson in fitting if destination in lesson.destinations and ANY not in lesson.destinations]
    if destination == Destination.UNDECIDED:
        consequence = (f"You have not chosen a track: the first months compare them, starting with "
                       f"{named(track[0] if track else None) or 'the destinations side by side'}. Reply with a "
                       "destination to any email and the track changes from the next one.")  # fmt: skip
    elif destination == Destination.CHANGE_SETTING:
        consequence = (f"You are staying in direct care and changing setting: {len(track)} lessons are written for "
                       f"that, starting with {named(track[0] if track else None)}; lessons about leaving clinical "
                       "work are left out.")  # fmt: skip
    else:
        consequence = (f"{len(track)} lessons are written for {label.lower()}, starting with "
                       f"{named(track[0] if track else None)}; the other tracks' lessons are left out.")  # fmt: skip
    return Answer("Where you are heading", label, consequence)


def _license(subscriber: Subscriber, fitting: list[LessonInfo], named) -> Answer:
    plan = LicensePlan(subscriber.license_plan)
    decision = _first(fitting, lambda lesson: "license" in lesson.slug and lesson.essential_by is not None)
    bridge = _first(fitting, lambda lesson: "per-diem" in lesson.slug)
    consequence = {
        LicensePlan.KEEP: f"You want to keep it: {named(bridge)} shows how to keep your hand in while you move, and "
        f"{named(decision)} how to keep the license current on purpose.",
        LicensePlan.LET_GO: f"You plan to let it lapse: {named(decision)} comes early, with what that closes off, "
        "so the decision is made on purpose before it is made by default.",
        LicensePlan.UNSURE: f"You have not decided: {named(decision)} comes early so you can. Tell us what you "
        "decide in a reply (\u201cI've decided to keep my license\u201d) and the plan follows it.",
    }[plan]
    return Answer("Your clinical license", plan.label, consequence)


def _pay(subscriber: Subscriber, fitting: list[LessonInfo], named) -> Answer:
    need = PayNeed(subscriber.pay_need)
    numbers = _first(fitting, lambda lesson: "household-numbers" in lesson.slug)
    pay = _first(fitting, lambda lesson: lesson.slug.endswith("pay-reality"))
    offers = _first(fitting, lambda lesson: "comparing-offers" in lesson.slug)
    consequence = {
        PayNeed.MATCH: f"Your household needs your current pay: {named(numbers)} works out the exact floor, "
        f"{named(pay)} shows where your track's pay lands against it, and {named(offers)} holds every offer to it.",
        PayNeed.MODEST_DROP: f"A modest drop is possible for a while: {named(numbers)} sets how much and for how "
        f"long, and {named(offers)} checks each offer against it.",
        PayNeed.FLEXIBLE: f"Pay is not the deciding factor: {named(pay)} still shows the ranges, and the plan "
        "weighs the work itself first.",
        PayNeed.UNSURE: f"You have not worked out the number: {named(numbers)} does it with you, by month 3.",
    }[need]
    return Answer("What your household needs", need.label, consequence)


def _stage(subscriber: Subscriber, reported: bool, planning: str) -> Answer:
    label = subscriber.course.words.stage_label  # the course's own wording of each stage
    if reported:
        return Answer("Where you are", f"{label(subscriber.stage)} (you told us)",
                      f"The lessons are chosen for {label(subscriber.stage).lower()}; the next check-in asks "
                      "again, and a reply with a number moves it at once.")  # fmt: skip
    return Answer("Where you are", f"{label(subscriber.stage)} when you signed up",
                  f"Until you tell us otherwise the plan follows the calendar: this month that means "
                  f"{label(planning).lower()}. Reply with a number (1 to 5) to move it.")  # fmt: skip


def _in_phase(first: int, last: int, month: int, stage: str) -> bool:
    """The phase the reader is in: by month, or by stage when they are ahead of the calendar."""
    if stage == Stage.LANDED:
        return False
    effective = max(month, STAGE_START_MONTH.get(Stage(stage), 1))
    return first <= effective < last or (last == 12 and effective >= 12)


# The planner's reasons (course/planner.py), said to the reader; anything else is shown as it is.
_REASONS: list[tuple[re.Pattern, object]] = [
    (re.compile(r"first unsent lesson for (?P<stage>[\w-]+) and (?P<track>[\w-]+) up to month \d+"
                r"(?P<ahead> \(ahead of the calendar\))?(?P<behind> \(behind the calendar\))?"
                r"(?P<calendar> \(following the calendar: [\w-]+\))?: month \d+, order \d+"),
     lambda m, w: f"the next lesson for where you are ({_stage_label(w, m['stage'])}), {_track_phrase(w, m['track'])}"
               + (", early: you are ahead of the calendar" if m["ahead"] else "")
               + (", at your own pace: you told us you are still here" if m["behind"] else "")
               + (", following the calendar until you tell us where you are" if m["calendar"] else "")),
    (re.compile(r"essential by month (?P<month>\d+): ahead of other lessons.*"),
     lambda m, w: f"one every reader like you gets by month {m['month']}"),
    (re.compile(r"check-in due: (?P<weeks>\d+) weeks of course time since enrolment"),
     lambda m, w: f"a check-in, {m['weeks']} weeks after you started"),
    (re.compile(r"check-in due: (?P<weeks>\d+) weeks of course time since the last check-in"),
     lambda m, w: f"a check-in, {m['weeks']} weeks after the last one"),
    (re.compile(r"check-in due: (?P<weeks>\d+) weeks of course time since you last told us your stage"),
     lambda m, w: f"a check-in, {m['weeks']} weeks after you last told us where you are"),
    (re.compile(r"check-in due: month (?P<month>\d+) is a check-in month"),
     lambda m, w: f"a check-in for month {m['month']}"),
    (re.compile(r"you told us you are (?P<stage>[\w-]+): .*"),
     lambda m, w: f"because you told us where you are: {_stage_label(w, m['stage'])}"),
    (re.compile(r"landed (?P<weeks>\d+) weeks ago: is it working\?"),
     lambda m, w: f"{m['weeks']} weeks into your new role: is it working?"),
    (re.compile(r"landed \d+ weeks ago: first-90-days .*"), lambda m, w: "for your first ninety days in the new role"),
    (re.compile(r"landed \d+ weeks ago: a lesson for any stage until day 90"),
     lambda m, w: "for any stage, while your first ninety days run"),
    (re.compile(r"nothing left for (?P<stage>[\w-]+): a (?P<other>[\w-]+) lesson instead"),
     lambda m, w: f"a lesson for {_stage_label(w, m['other'])}: you have had each one for "
                  f"{_stage_label(w, m['stage'])}"),
    (re.compile(r".*: completion email"), lambda m, w: "the course's last email"),
]  # fmt: skip


def _stage_label(words: Vocabulary, stage: str) -> str:
    return words.stage_label(stage).lower()


def _track_phrase(words: Vocabulary, track: str) -> str:
    if track == Destination.UNDECIDED:
        return "comparing the tracks"
    if track == Destination.CHANGE_SETTING:
        return "on staying in care in a better setting"
    return f"on the {words.destination_label(track).lower()} track"


def _plain_reason(reason: str, words: Vocabulary) -> str:
    """The planner's reason in the reader's words and the course's (no slugs, counts or orders)."""
    for pattern, say in _REASONS:
        if match := pattern.fullmatch(reason):
            return say(match, words)
    return reason
