"""Every email the product sends, one function per kind: subject, text, HTML and headers."""

from __future__ import annotations

from email.utils import parseaddr
from html import escape

from django.conf import settings
from django.core.mail import EmailMultiAlternatives

from course.schedule import course_month
from course.vocabulary import Destination, Kind, Stage
from lessons.rendering import render_lesson
from subscribers.models import Delivery, Reply, Subscriber
from subscribers.preferences import preferences_url
from subscribers.reply_address import reply_address


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
        # A check-in is answered by replying: the signed address names the reader and this delivery.
        reply_to=[reply_address(subscriber.pk, delivery.pk)] if delivery.lesson.kind == Kind.CHECKIN else None,
        headers={
            "Message-ID": delivery.message_id or delivery_message_id(delivery),
            "List-Id": f"{course.title} <{course.slug}.{sender_domain()}>",
        },
    )
    message.attach_alternative(rendered.html, "text/html")
    return message


def reply_confirmation(reply: Reply, changes: list, undo_url: str) -> EmailMultiAlternatives:
    """ "We read your reply as: stage 4, interviewing. Not right? Undo" — threaded under the reader's reply."""
    subscriber = reply.subscriber
    read_as = "; ".join(describe_change(change) for change in changes)
    then = []
    if any(change.what == "status" and change.after == "paused" for change in changes):
        then.append(
            'The course is paused. Reply "resume" to a check-in or use your preferences page to pick it up again.'
        )
    elif any(change.what == "status" and change.after == "unsubscribed" for change in changes):
        then.append("You will get no more course emails.")
    else:
        then.append("Your next email follows this.")
    text = (
        f"Hi {subscriber.first_name or 'there'},\n\n"
        f"We read your reply as: {read_as}.\n{' '.join(then)}\n\n"
        f"Not right? Undo: {undo_url}\n"
        f"(or reply to this email with the right answer)\n\n"
        f"--\nPause, change your track or unsubscribe: {preferences_url(subscriber)}\n"
    )
    html = (
        f"<p>Hi {escape(subscriber.first_name or 'there')},</p>"
        f"<p>We read your reply as: <strong>{escape(read_as)}</strong>.<br>{escape(' '.join(then))}</p>"
        f'<p>Not right? <a href="{escape(undo_url)}">Undo</a> (or reply with the right answer).</p>'
        f'<p style="color:#5b6670;font-size:13px"><a href="{escape(preferences_url(subscriber))}">Preferences</a></p>'
    )
    subject = reply.subject if reply.subject.lower().startswith("re:") else f"Re: {reply.subject or 'your check-in'}"
    headers = {"Auto-Submitted": "auto-replied"}
    if reply.message_id.startswith("<"):
        headers.update({"In-Reply-To": reply.message_id, "References": reply.message_id})
    message = EmailMultiAlternatives(
        subject=subject.replace("\n", " ")[:200],
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[subscriber.email],
        reply_to=[reply_address(subscriber.pk, reply.delivery_id)] if reply.delivery_id else None,
        headers=headers,
    )
    message.attach_alternative(html, "text/html")
    return message


def describe_change(change) -> str:
    if change.what == "stage":
        stage = Stage(change.after)
        return f"stage {stage.number}, {stage.label.lower()}"
    if change.what == "destination":
        return f"destination {Destination(change.after).label.lower()}"
    return {"paused": "pause the course", "active": "resume the course", "unsubscribed": "stop the course"}.get(
        change.after, f"status {change.after}"
    )
