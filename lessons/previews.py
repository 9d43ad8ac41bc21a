"""Author previews: a lesson draft rendered as a reader would get it, and sent as a test."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMultiAlternatives

from course.vocabulary import ANY, Destination, LicensePlan, PayNeed, Stage
from lessons import sections
from lessons.models import Lesson
from lessons.rendering import Block, RenderedLesson, render_lesson


def sample_values(lesson: Lesson) -> dict[str, str]:
    words = lesson.course.words  # the course's own tracks and stage names
    tracks = [d for d in words.destination_values if d != Destination.UNDECIDED] or [Destination.UNDECIDED]
    destination = next(
        (d for d in lesson.destinations if d != ANY), Destination.PAYER if Destination.PAYER in tracks else tracks[0]
    )
    stage = lesson.stage if lesson.stage != ANY else Stage.DECIDING
    return {
        "first_name": "Alex",
        "destination_name": words.destination_label(destination).lower(),
        "stage_name": words.stage_label(stage).lower(),
        "course_month": str(lesson.month),
        "preferences_url": f"{settings.SITE_URL}/p/preview/",
        "profession_name": "nurse",
        "specialty": "ICU nursing",
        "license_plan": LicensePlan.KEEP.label.lower(),
        "pay_need": PayNeed.MODEST_DROP.label.lower(),
        "your_plan": Block(
            "[The reader's plan: each answer with what the course does with it, their twelve months, their "
            "next emails.]",
            "<p><em>[The reader's plan: each answer with what the course does with it, their twelve months, their "
            "next emails.]</em></p>",
        ),
    }


def render_draft(lesson: Lesson, subject: str, body: str) -> RenderedLesson:
    """The draft as a sample reader would see it (not cached under a real version); every
    `::: for` section is shown, so the author sees all of it."""
    try:
        every_section = (True,) * len(sections.parse(body))
    except sections.SectionError:
        every_section = ()
    return render_lesson(
        0, subject, body, lesson.course.title, settings.SENDER_POSTAL_ADDRESS, every_section
    ).personalise(sample_values(lesson))


def send_test(lesson: Lesson, subject: str, body: str, to: str) -> None:
    rendered = render_draft(lesson, subject, body)
    message = EmailMultiAlternatives(
        subject=f"[Test] {rendered.subject}", body=rendered.text, from_email=settings.DEFAULT_FROM_EMAIL, to=[to]
    )
    message.attach_alternative(rendered.html, "text/html")
    message.send()
