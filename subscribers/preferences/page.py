"""The preferences page (flow 7): what a reader can change from their signed link, each
change made through subscribers.readers.changes (one transaction, one audit row)."""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta

from django import forms
from django.db import transaction
from django.utils import timezone

from course.schedule import available_time_zones
from course.vocabulary import Destination, LicensePlan, PayNeed, Profession, Stage, Vocabulary
from subscribers.models import Delivery, Event, Subscriber
from subscribers.readers import changes, history, links
from subscribers.readers.changes import WEEKDAYS
from subscribers.readers.course_time import hour_label

# A reader's page sends at most this many new-address confirmations a day (each goes to an address
# the page's holder typed).
ADDRESS_REQUESTS_PER_DAY = 3


class TrackForm(forms.Form):
    destination = forms.ChoiceField(label="Your destination", choices=Destination.choices)

    def __init__(self, *args, words: Vocabulary | None = None, **kwargs) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        if words is not None:  # the course's own tracks
            self.fields["destination"].choices = words.destination_choices()


class StageForm(forms.Form):
    stage = forms.ChoiceField(
        label="Where you are now",
        choices=[(stage.value, f"{stage.number}. {stage.label}") for stage in Stage],
        widget=forms.RadioSelect,
        error_messages={"required": "Choose where you are now.", "invalid_choice": "Choose one of the stages."},
    )

    def __init__(self, *args, words: Vocabulary | None = None, **kwargs) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        if words is not None:  # the course's own wording of each stage
            self.fields["stage"].choices = words.stage_choices(numbered=True)


class ProfileForm(forms.Form):
    """What the reader told us at intake (subscribers/signup/forms.py words it the same way)."""

    profession = forms.ChoiceField(
        label="Your profession", required=False, choices=[("", "Not said"), *Profession.choices],
        error_messages={"invalid_choice": "Choose a profession from the list."},
    )  # fmt: skip
    specialty = forms.CharField(
        label="Current role and specialty",
        max_length=changes.SPECIALTY_MAX_LENGTH,
        help_text="For example: ICU nurse, family medicine physician, hospital pharmacist, emergency PA.",
        error_messages={"required": "Tell us your current role and specialty."},
    )
    license_plan = forms.ChoiceField(
        label="Your clinical license after the move", choices=LicensePlan.choices, widget=forms.RadioSelect,
        error_messages={"required": "Choose what happens to your license, or 'not decided'."},
    )  # fmt: skip
    pay_need = forms.ChoiceField(
        label="What does your household need you to earn?", choices=PayNeed.choices, widget=forms.RadioSelect,
        error_messages={"required": "Choose what your household needs, or 'haven't worked it out'."},
    )  # fmt: skip

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def clean_specialty(self) -> str:
        return " ".join(self.cleaned_data["specialty"].split())


class AddressForm(forms.Form):
    email = forms.EmailField(
        label="New email address",
        max_length=Subscriber._meta.get_field("email").max_length,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "inputmode": "email"}),
        error_messages={
            "required": "Enter the new address.",
            "invalid": "Enter an email address like name@example.com.",
        },
    )

    def __init__(self, *args, subscriber: Subscriber | None = None, **kwargs) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.subscriber = subscriber

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if self.subscriber is not None and email == self.subscriber.email:
            raise forms.ValidationError("That is already your course's address.")
        return email


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
            form = TrackForm(data, words=subscriber.course.words)
            if not form.is_valid():
                return "", form
            change = changes.change_destination(
                subscriber, form.cleaned_data["destination"], actor="reader", why=why, now=now
            )
            label = subscriber.course.words.destination_label(subscriber.destination)
            return (
                f"Your track is now {label}. Your next email follows it." if change else f"Your track stays {label}."
            ), None
        if action == "stage":
            form = StageForm(data, words=subscriber.course.words)
            if not form.is_valid():
                return "", form
            change = changes.change_stage(subscriber, form.cleaned_data["stage"], actor="reader", why=why, now=now)
            stage = subscriber.course.words.stage(subscriber.stage)
            said = f"{stage.number}, {stage.label}"
            return (
                f"Your stage is now {said}. Your next email follows it." if change else f"Your stage stays {said}."
            ), None
        if action == "profile":
            form = ProfileForm(data)
            if not form.is_valid():
                return "", form
            return _apply_profile(subscriber, form.cleaned_data, why=why, now=now), None
        if action == "address":
            form = AddressForm(data, subscriber=subscriber)
            if not form.is_valid():
                return "", form
            return ask_for_new_address(subscriber, form.cleaned_data["email"], now=now), None
        if action == "timing":
            form = TimingForm(data)
            if not form.is_valid():
                return "", form
            change = changes.change_timing(subscriber, actor="reader", why=why, now=now, **form.cleaned_data)
            return (f"Your email now arrives {changes.timing(subscriber)}." if change else "Nothing changed."), None
    except changes.ChangeRefused as refused:
        return f"That cannot be changed: {refused}.", None
    return "Nothing changed.", None


PROFILE_SETTERS = {
    "profession": changes.change_profession,
    "specialty": changes.change_specialty,
    "license_plan": changes.change_license_plan,
    "pay_need": changes.change_pay_need,
}
PROFILE_NAMES = {"profession": "profession", "specialty": "role and specialty", "license_plan": "license",
                 "pay_need": "household pay"}  # fmt: skip


def _apply_profile(subscriber: Subscriber, answers: dict[str, str], *, why: str, now: datetime | None) -> str:
    """Each answer that differs is changed (and audited) on its own, all in one transaction."""
    with transaction.atomic():
        changed = [
            name
            for name, setter in PROFILE_SETTERS.items()
            if setter(subscriber, answers[name], actor="reader", why=why, now=now)
        ]
    if not changed:
        return "Nothing changed."
    names = [PROFILE_NAMES[name] for name in changed]
    listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    return f"Saved your {listed}. Your plan and your next emails follow it."


def ask_for_new_address(subscriber: Subscriber, email: str, *, now: datetime | None = None) -> str:
    """Mail a confirmation link to `email`; the course moves there only when it is opened
    (subscribers.preferences.views.confirm_address). Audited; a few a day at most."""
    from subscribers.sending import emails

    now = now or timezone.now()
    with transaction.atomic():
        Subscriber.objects.select_for_update().filter(pk=subscriber.pk).first()
        asked = subscriber.events.filter(what=Event.What.EMAIL_CHANGE_REQUESTED, at__gt=now - timedelta(days=1))
        if asked.count() >= ADDRESS_REQUESTS_PER_DAY:
            return "That is enough new addresses for today. Open the link we already sent, or try again tomorrow."
        changes.ask_for_new_email(subscriber, email, actor="reader", why="preferences page", now=now)
        url = links.new_address_url(subscriber, email, now)
        transaction.on_commit(lambda: emails.confirm_new_address(subscriber, email, url).send(), robust=True)
    return (
        f"We sent a link to {email}. Open it to move your course there; until then nothing changes "
        f"and your emails keep coming to {subscriber.email}."
    )


def confirm_new_address(subscriber: Subscriber, email: str, *, now: datetime | None = None) -> changes.Change | None:
    """The new address's owner pressed the button: the course goes there, the old address is told."""
    from subscribers.sending import emails

    with transaction.atomic():
        old = subscriber.email
        change = changes.change_email(subscriber, email, actor="reader", why="confirmed from the new address", now=now)
        if change:
            transaction.on_commit(lambda: emails.address_changed(subscriber, old).send(), robust=True)
    return change


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


def archived_copy(subscriber: Subscriber, slug: str, token: str) -> str | None:
    """The HTML of a lesson as it was sent to this reader (its version, their details), or None
    if that lesson has not been sent to them. Its links carry `token`, the link it was opened
    with: reading the archive never makes a link that outlives the one in the reader's email."""

    delivery = (
        subscriber.deliveries.filter(state=Delivery.State.SENT, lesson__slug=slug)
        .select_related("subscriber__course", "lesson", "version")
        .first()
    )
    if delivery is None:
        return None
    later = history.changes_since(subscriber, delivery.sent_at)
    return _as_sent(subscriber, delivery, later, links.link_url(token)).html


def _as_sent(subscriber: Subscriber, delivery: Delivery, later: list, link: str = ""):
    """The email as it went out: its version, the reader's answers and course month then (their
    links are today's, so they still open)."""
    from subscribers.plan import summary
    from subscribers.sending import emails

    sent_at = delivery.sent_at or delivery.due_at
    then = history.as_of(subscriber, sent_at, later)
    values = emails.placeholder_values(then, sent_at)
    if link:  # the archive's links, the welcome's plan link among them, open for as long as this one does
        values["preferences_url"] = link
        values["your_plan"] = summary.plan_link_block(f"{link}plan/")
    return emails.rendered_version(delivery, emails.reader_profile(then)).personalise(values)
