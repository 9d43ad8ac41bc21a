"""The journey check: named personas through a year of the real tick, send and reply path.

Each persona is a reader profile plus scripted replies at given weekly slots. `run()` enrols them
all at one instant, then moves the clock from slot to slot: the real tick plans, the real send
path renders and records (to a dummy email backend), and each scripted reply is stored and
processed by the real inbound code (`replies.inbound.store()` then `process()`: everything the
ESP webhook would do after anymail parses the message). It records what each persona got every
week and checks the rules a reader should be able to count on (`check()`). Nothing is kept:
the run happens in a transaction that is rolled back.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html import escape

from anymail.inbound import AnymailInboundMessage
from django.db import transaction
from django.test.utils import override_settings
from django.utils import timezone

from course import planner
from course.models import Course
from course.vocabulary import ANY, Kind, Stage
from lessons.catalogue import Catalogue
from subscribers.models import Delivery, Subscriber
from subscribers.readers.addresses import reply_address
from subscribers.readers.course_time import reader_state
from subscribers.readers.enrolment import Intake, enroll
from subscribers.replies import inbound
from subscribers.sending import drip, emails, esp_payloads

SLOTS = 62  # enough weekly slots for a year of course time, a six-week pause and the completion


@dataclass(frozen=True)
class Persona:
    name: str
    story: str
    intake: dict
    replies: dict[int, str] = field(default_factory=dict)  # weekly slot since enrolment → reply text


PERSONAS = [
    Persona("silent-sam", "an ICU nurse who never replies", {"profession": "rn", "specialty": "ICU nurse"}),
    Persona(
        "calendar-cora",
        "a hospitalist on the calendar, to payer",
        {"profession": "physician", "specialty": "hospitalist", "destination": "payer", "stage": "conversations"},
        {6: "2", 14: "I'm searching now, 3", 27: "4, interviewing with two health plans"},
    ),
    Persona(
        "fast-farah",
        "an NP interviewing by month 3, landed in month 5",
        {"profession": "np", "specialty": "family NP", "destination": "health-tech-product"},
        {6: "3", 10: "4 - I have interviews lined up", 20: "5, I accepted an offer!"},
    ),
    Persona(
        "slow-sol",
        "a pharmacist still deciding in month 5",
        {"profession": "pharmacist", "specialty": "retail pharmacist"},
        {12: "1", 19: "still deciding, 1"},
    ),
    Persona(
        "switching-sam",
        "a nurse who switches payer → informatics in month 4",
        {"profession": "rn", "specialty": "med-surg nurse", "destination": "payer"},
        {6: "2", 15: "switch me to clinical informatics"},
    ),
    Persona(
        "setting-sage",
        "a nurse staying in care, changing setting",
        {"profession": "rn", "specialty": "ED nurse", "destination": "change-setting"},
        {12: "3", 26: "4"},
    ),
    Persona(
        "pausing-pat",
        "a PA who pauses for six weeks",
        {"profession": "pa", "specialty": "orthopaedic PA", "destination": "consulting"},
        {6: "2", 10: "pause", 16: "resume"},
    ),
    Persona(
        "lapsing-lee",
        "a physician letting the license lapse who needs current pay",
        {
            "profession": "physician",
            "specialty": "anaesthesiologist",
            "destination": "consulting",
            "license_plan": "let-go",
            "pay_need": "match",
        },
        {6: "2"},
    ),
    Persona(
        "pharma-priya",
        "a pharmacist heading to medical affairs",
        {"profession": "pharmacist", "specialty": "oncology pharmacist", "destination": "medical-affairs"},
        {12: "3", 24: "4"},
    ),
    Persona(
        "payer-nia",
        "an NP heading to payer",
        {"profession": "np", "specialty": "adult gerontology NP", "destination": "payer", "license_plan": "keep"},
        {6: "2", 12: "3"},
    ),
    Persona(
        "relapsing-ray",
        "lands in month 7, then reports it is not working",
        {"profession": "physician", "specialty": "emergency physician", "destination": "clinical-leadership"},
        {12: "3", 20: "4", 28: "5, I start next month", 35: "3 - it's not working out, back to searching"},
    ),
    Persona(
        "quiet-quinn",
        "a PA who only ever says thanks",
        {"profession": "pa", "specialty": "surgical PA", "destination": "regulatory-affairs"},
        {6: "thanks!"},
    ),
]


@dataclass
class Week:
    slot: int
    week: int | None  # course week of the email, or of the slot
    month: int
    kind: str
    slug: str
    subject: str
    reason: str
    stage: str  # the stage lessons were chosen for that week
    status: str
    reply: str = ""
    targeted: bool = True  # the lesson's targeting included the reader when it was sent


@dataclass
class Journey:
    persona: Persona
    weeks: list[Week] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def run(course: Course, start: datetime | None = None, progress: Callable[[int], None] | None = None) -> list[Journey]:
    """Every persona through the course from `start` (default: now); rolled back afterwards."""
    start = (start or timezone.now()).replace(second=0, microsecond=0)
    journeys: list[Journey] = []
    with transaction.atomic(), override_settings(EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend"):
        drip.logger.disabled = True
        try:
            journeys = _run(course, start, progress)
        finally:
            drip.logger.disabled = False
            transaction.set_rollback(True)
    return journeys


def _run(course: Course, start: datetime, progress) -> list[Journey]:
    readers: dict[int, Journey] = {}
    for number, persona in enumerate(PERSONAS):
        intake = Intake(email=f"{persona.name}@journeys.invalid", first_name=persona.name.split("-")[1].title(),
                        time_zone="America/Chicago", send_hour=8, **persona.intake)  # fmt: skip
        reader = enroll(course, intake, actor="journeys", why=f"journey persona {number + 1}", now=start)
        readers[reader.pk] = Journey(persona)
    catalogue = Catalogue.load()
    now = start
    for slot in range(SLOTS):
        report = drip.tick(now=now, queue=False, catalogue=catalogue)
        for delivery_id in report.delivery_ids:
            drip.send_delivery(delivery_id, now=now)
        sent = {d.subscriber_id: d for d in Delivery.objects.filter(pk__in=report.delivery_ids)
                .select_related("lesson", "version", "subscriber__course")}  # fmt: skip
        for reader in Subscriber.objects.filter(pk__in=readers).order_by("pk"):
            journey = readers[reader.pk]
            state = reader_state(reader)
            month = state.month(now)
            delivery = sent.get(reader.pk)
            if delivery is not None:
                subject = emails.rendered_version(delivery).personalise(emails.placeholder_values(reader, now)).subject
                targeted = catalogue.by_id[delivery.lesson_id].targets(state)
                journey.weeks.append(Week(slot, delivery.course_week, delivery.course_month, delivery.lesson.kind,
                                          delivery.lesson.slug, subject, delivery.reason,
                                          state.planning_stage(month), reader.status, targeted=targeted))  # fmt: skip
            elif reader.status in (Subscriber.Status.ACTIVE, Subscriber.Status.PAUSED):
                journey.weeks.append(Week(slot, state.week(now), month, "", "", "", _idle_reason(reader, now),
                                          state.planning_stage(month), reader.status))  # fmt: skip
            text = journey.persona.replies.get(slot)
            if text and journey.weeks:
                journey.weeks[-1].reply = text
                _reply(reader, text, now + timedelta(hours=2))
        if progress:
            progress(slot)
        now = _next_slot_time(readers, now)
    for reader in Subscriber.objects.filter(pk__in=readers):
        check(readers[reader.pk], reader_state(reader), catalogue.lessons[course.pk])
    return list(readers.values())


def _idle_reason(reader: Subscriber, now: datetime) -> str:
    if reader.status == Subscriber.Status.PAUSED:
        return "paused"
    return "no email this week"


def _next_slot_time(readers: dict[int, Journey], now: datetime) -> datetime:
    """The next weekly slot: every persona shares one (Chicago, 08:00, the enrolment weekday)."""
    upcoming = Subscriber.objects.filter(pk__in=readers, next_send_at__gt=now).order_by("next_send_at").first()
    return upcoming.next_send_at if upcoming is not None else now + timedelta(weeks=1)


def _reply(reader: Subscriber, text: str, now: datetime) -> None:
    """A reply to the reader's latest email, through the real inbound store and processing."""
    latest = reader.deliveries.filter(state=Delivery.State.SENT).order_by("-sent_at", "-pk").first()
    if latest is None:
        return
    raw = esp_payloads.reply_mime(
        sender=reader.email, to=reply_address(reader.pk, latest.pk), subject=latest.version.subject,
        in_reply_to=latest.message_id, quoted_from="Pivot Path", quoted_text="(the email)", text=text,
    )  # fmt: skip
    stored = inbound.store(AnymailInboundMessage.parse_raw_mime_bytes(raw), esp="postmark", now=now)
    if stored is not None:
        inbound.process(stored.pk, now=now)


def check(journey: Journey, final: planner.Reader, catalogue: list[planner.LessonInfo]) -> None:
    """The rules a reader can count on; each broken one is a problem naming the week."""
    problems, weeks = journey.problems, journey.weeks
    by_slug = {lesson.slug: lesson for lesson in catalogue}
    emails_sent = [w for w in weeks if w.slug]
    finished = any(w.kind == Kind.COMPLETION for w in weeks)
    for w in weeks:
        if not w.slug and w.status == Subscriber.Status.ACTIVE:
            problems.append(f"week {w.week}: no email while active ({w.reason})")
    for w in emails_sent:
        if not w.targeted:
            problems.append(f"week {w.week}: {w.slug} is targeted away from this reader")
    slugs = [w.slug for w in emails_sent]
    for slug in {s for s in slugs if slugs.count(s) > 1}:
        problems.append(f"{slug} sent twice")
    checkins = [w for w in emails_sent if w.kind == Kind.CHECKIN]
    if len(checkins) * 6 > len(emails_sent) + 5:
        problems.append(f"{len(checkins)} check-ins in {len(emails_sent)} emails: more than one in six")
    for before, after in itertools.pairwise(checkins):
        if after.week - before.week < planner.MIN_WEEKS_BETWEEN_CHECKINS:
            problems.append(f"week {after.week}: a check-in {after.week - before.week} weeks after the last")
    ordinary = [w.slug for w in checkins if by_slug[w.slug].stage != Stage.LANDED]
    if ordinary != sorted(ordinary, key=lambda slug: (by_slug[slug].month, by_slug[slug].order)):
        problems.append(f"check-ins out of order: {', '.join(ordinary)}")
    if not finished:
        problems.append("the course never finished")
    order = list(Stage)
    for lesson in catalogue:
        if lesson.essential_by is None or not lesson.targets(final):
            continue
        window = [w for w in weeks if lesson.month <= w.month <= lesson.essential_by]
        # It is owed to a reader still in the course over its window, at or past its stage throughout.
        reached = bool(window) and (lesson.stage == ANY or all(
            order.index(Stage(w.stage)) >= order.index(Stage(lesson.stage)) for w in window))  # fmt: skip
        if not reached or any(w.stage == Stage.LANDED for w in window):
            continue
        arrived = next((w for w in emails_sent if w.slug == lesson.slug), None)
        if arrived is None or arrived.month > lesson.essential_by:
            when = f"in month {arrived.month}" if arrived else "never"
            problems.append(f"essential {lesson.slug} (by month {lesson.essential_by}) came {when}")
    _check_stage_reports(journey, by_slug, emails_sent)


def _check_stage_reports(journey: Journey, by_slug: dict, emails_sent: list[Week]) -> None:
    """Interviewing brings its triggered lessons within two emails; landed means no completion before day 90."""
    weeks = journey.weeks
    for index, w in enumerate(weeks):
        if not w.reply or index + 1 >= len(weeks):
            continue
        after = weeks[index + 1 :]
        stage = after[0].stage
        if stage == Stage.INTERVIEWING and w.stage != Stage.INTERVIEWING:
            sent_before = {x.slug for x in weeks[: index + 1]}
            triggered = [s for s, lesson in by_slug.items() if lesson.trigger_stage == stage and s not in sent_before]
            first_two = [x.slug for x in after if x.kind == Kind.LESSON][:2]
            if triggered and not set(triggered) & set(first_two):
                problems = journey.problems
                problems.append(f"week {after[0].week}: reported interviewing, no offer lesson in the next two emails")
        if stage == Stage.LANDED and w.stage != Stage.LANDED:
            landed_week = w.week or 0
            done = next((x for x in after if x.kind == Kind.COMPLETION), None)
            if done is not None and done.week - landed_week < planner.LANDED_WEEKS and done.month <= 12:
                journey.problems.append(f"week {done.week}: completion {done.week - landed_week} weeks after landing")


def report_html(journeys: list[Journey], course: Course, start: datetime) -> str:
    """One table per persona: week, kind, subject, reason; problems first."""
    parts = [f"<!doctype html><meta charset='utf-8'><meta name='viewport' content='width=device-width'>"
             f"<title>Journeys: {escape(course.title)}</title><style>{STYLE}</style>"
             f"<h1>Journeys through {escape(course.title)}</h1><p>{len(journeys)} personas from "
             f"{start:%Y-%m-%d %H:%M} UTC, through the real tick, send and reply path.</p>"]  # fmt: skip
    for journey in journeys:
        persona = journey.persona
        verdict = "ok" if not journey.problems else f"{len(journey.problems)} problem(s)"
        parts.append(f"<h2 id='{persona.name}'>{escape(persona.name)}: {escape(persona.story)} · {verdict}</h2>")
        if journey.problems:
            parts.append("<ul class='bad'>" + "".join(f"<li>{escape(p)}</li>" for p in journey.problems) + "</ul>")
        rows = "".join(
            f"<tr><td>{w.week if w.week is not None else ''}</td><td>{w.month}</td><td>{escape(w.kind or '-')}</td>"
            f"<td>{escape(w.subject or w.reason)}</td><td>{escape(w.reason if w.slug else '')}</td>"
            f"<td>{escape(w.reply)}</td></tr>"
            for w in journey.weeks
        )
        parts.append("<div class='scroll'><table><thead><tr><th>week</th><th>month</th><th>kind</th><th>subject</th>"
                     f"<th>why</th><th>reply</th></tr></thead><tbody>{rows}</tbody></table></div>")  # fmt: skip
    return "".join(parts)


def table_text(journey: Journey) -> str:
    """A persona's weeks as plain text (week, kind, subject, reason)."""
    lines = [f"{journey.persona.name}: {journey.persona.story}"]
    for w in journey.weeks:
        reply = f"   ← replied “{w.reply}”" if w.reply else ""
        lines.append(f"  wk {w.week if w.week is not None else '-':>2} · {w.kind or '-':<10} · "
                     f"{w.subject or w.reason} · {w.reason if w.slug else ''}{reply}")  # fmt: skip
    return "\n".join(lines)


STYLE = (
    "body{font:15px/1.45 system-ui,sans-serif;margin:1rem;max-width:70rem;color:#1d2433}"
    "table{border-collapse:collapse;width:100%;font-size:13px}td,th{border-bottom:1px solid #dde2ea;"
    "padding:.25rem .4rem;text-align:left;vertical-align:top}.scroll{overflow-x:auto}"
    ".bad{color:#a8251b}h2{font-size:1.05rem;margin-top:2rem}"
)
