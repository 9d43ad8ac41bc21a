"""The preferences page (flow 7): what a reader can change from their signed link, each
change made through subscribers.readers.changes (one transaction, one audit row)."""

from __future__ import annotations

import contextlib
from datetime import datetime

from django import forms

from course.schedule import available_time_zones
from course.vocabulary import Destination
from subscribers.models import Delivery, Subscriber
from subscribers.readers import changes, history
from subscribers.readers.changes import WEEKDAYS
from subscribers.readers.course_time import hour_label


class TrackForm(forms.Form):
    destination = forms.ChoiceField(label="Your destination", choices=Destination.choices)

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class TimingForm(forms.Form):
    send_weekday = forms.TypedChoiceField(
        label="Day", coerce=int, choices=list(enumerate(WEEKDAYS)), error_messages={"invalid_choice": "Choose a day."}
    )
    send_hour = forms.TypedChoiceField(
        label="Time", coerce=int, choices=[(hour, hour_label(hour)) for hour in range(24)]
    )
    time_zone = forms.ChoiceField(
        label="Time zone", error_messages={"invalid_choice": "Choose a time zone from the list."}
    )

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = time_zone_choices()


def time_zone_choices() -> list[tuple[str, str]]:
    return [
        (name, name.replace("_", " "))
        for name in sorted(available_time_zones())
        if name == "UTC" or ("/" in name and not name.startswith(("posix/", "right/")))
    ]


def apply(subscriber: Subscriber, data, *, now: datetime | None = None) -> tuple[str, forms.Form | None]:
    """Apply one POST of the preferences page through subscribers.readers.changes; returns a line saying
    what happened and the form to show again with its errors (None when it was applied)."""
    why = "preferences page"
    action = data.get("action", "")
    try:
        if action == "pause":
            change = changes.pause(subscriber, actor="reader", why=why, now=now)
            return ("Your course is paused. Nothing is sent until you resume." if change else "Already paused."), None
        if action == "resume":
            change = changes.resume(subscriber, actor="reader", why=why, now=now)
            return (
                "Your course is back on. Your next email comes at your usual time." if change else "Already on."
            ), None
        if action == "track":
            form = TrackForm(data)
            if not form.is_valid():
                return "", form
            change = changes.change_destination(
                subscriber, form.cleaned_data["destination"], actor="reader", why=why, now=now
            )
            label = Destination(subscriber.destination).label
            return (
                f"Your track is now {label}. Your next email follows it." if change else f"Your track stays {label}."
            ), None
        if action == "timing":
            form = TimingForm(data)
            if not form.is_valid():
                return "", form
            change = changes.change_timing(subscriber, actor="reader", why=why, now=now, **form.cleaned_data)
            return (f"Your email now arrives {changes.timing(subscriber)}." if change else "Nothing changed."), None
    except changes.ChangeRefused as refused:
        return f"That cannot be changed: {refused}.", None
    return "Nothing changed.", None


def one_click_unsubscribe(subscriber: Subscriber, *, one_click: bool, now: datetime | None = None) -> str:
    """The unsubscribe POST (RFC 8058 from the mailbox provider's button, or the page's own
    button): stop the course; a reader already stopped, completed or suppressed stays so."""
    why = "one-click unsubscribe (List-Unsubscribe-Post)" if one_click else "unsubscribe page"
    # Refunded, suppressed or completed: nothing more is sent either way.
    with contextlib.suppress(changes.ChangeRefused):
        changes.stop(subscriber, actor="reader", why=why, now=now)
    return "You are unsubscribed. No more course emails will be sent to you."


def sent_lessons(subscriber: Subscriber, now: datetime | None = None) -> list[tuple[Delivery, str]]:
    """The reader's archive: every lesson sent to them, newest first, with its subject as they got it."""
    deliveries = list(
        subscriber.deliveries.filter(state=Delivery.State.SENT)
        .select_related("subscriber__course", "lesson", "version")
        .order_by("-sent_at", "-pk")
    )
    since = min((delivery.sent_at for delivery in deliveries if delivery.sent_at), default=None)
    later = history.changes_since(subscriber, since)
    return [(delivery, _as_sent(subscriber, delivery, later).subject) for delivery in deliveries]


def archived_copy(subscriber: Subscriber, slug: str, now: datetime | None = None) -> str | None:
    """The HTML of a lesson as it was sent to this reader (its version, their details), or None
    if that lesson has not been sent to them."""
    delivery = (
        subscriber.deliveries.filter(state=Delivery.State.SENT, lesson__slug=slug)
        .select_related("subscriber__course", "lesson", "version")
        .first()
    )
    if delivery is None:
        return None
    return _as_sent(subscriber, delivery, history.changes_since(subscriber, delivery.sent_at)).html


def _as_sent(subscriber: Subscriber, delivery: Delivery, later: list):
    """The email as it went out: its version, the reader's answers and course month then (their
    links are today's, so they still open)."""
    from subscribers.sending import emails

    sent_at = delivery.sent_at or delivery.due_at
    then = history.as_of(subscriber, sent_at, later)
    values = emails.placeholder_values(then, sent_at)
    return emails.rendered_version(delivery, emails.reader_profile(then)).personalise(values)
