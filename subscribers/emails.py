"""Every email the product sends, one function per kind: subject, text, HTML and headers."""

from __future__ import annotations

from email.utils import parseaddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives

from course.schedule import course_month
from course.vocabulary import Destination, Stage
from lessons.rendering import render_lesson
from subscribers.models import Delivery, Subscriber
from subscribers.preferences import preferences_url


def sender_domain() -> str:
    return parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "localhost"


def delivery_message_id(delivery: Delivery) -> str:
    """Stable per delivery: a resend after a crash carries the same id, so clients fold it."""
    return f"<delivery-{delivery.pk}.{delivery.subscriber.course.slug}@{sender_domain()}>"


def placeholder_values(subscriber: Subscriber, now) -> dict[str, str]:
    return {
        "first_name": subscriber.first_name or "there",
        "destination_name": Destination(subscriber.destination).label.lower()
        if subscriber.destination != Destination.UNDECIDED
        else "the destination you choose",
        "stage_name": Stage(subscriber.stage).label.lower(),
        "course_month": str(course_month(subscriber.enrolled_at, now, subscriber.paused_for, subscriber.paused_at)),
        "preferences_url": preferences_url(subscriber),
    }


def lesson_email(delivery: Delivery, now) -> EmailMultiAlternatives:
    """A course email (welcome, lesson, check-in, milestone, completion) for one delivery."""
    subscriber, version = delivery.subscriber, delivery.version
    course = subscriber.course
    rendered = render_lesson(version.pk, version.subject, version.body, course.title).personalise(
        placeholder_values(subscriber, now)
    )
    message = EmailMultiAlternatives(
        subject=rendered.subject,
        body=rendered.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[subscriber.email],
        headers={
            "Message-ID": delivery.message_id or delivery_message_id(delivery),
            "List-Id": f"{course.title} <{course.slug}.{sender_domain()}>",
        },
    )
    message.attach_alternative(rendered.html, "text/html")
    return message
