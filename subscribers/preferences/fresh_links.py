"""The expired-link page's "send me a fresh link" form: an email address in; each reader with
that address gets their preferences link by email.

The page answers the same for every address, enrolled or not, so nobody learns from it whose
address is a reader (as /start/ does). An address gets at most FRESH_LINKS_PER_DAY of these
emails in 24 hours, however often the form is sent; each one sent is an audit row.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django import forms
from django.db import transaction
from django.utils import timezone

from subscribers.models import Event, Subscriber
from subscribers.readers import audit

FRESH_LINKS_PER_DAY = 3


class FreshLinkForm(forms.Form):
    email = forms.EmailField(
        label="Your email address",
        max_length=Subscriber._meta.get_field("email").max_length,
        help_text="The address your course emails come to.",
        widget=forms.EmailInput(attrs={"autocomplete": "email", "inputmode": "email"}),
        error_messages={
            "required": "Enter your email address.",
            "invalid": "Enter an email address like name@example.com.",
        },
    )

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("label_suffix", "")
        kwargs.setdefault("auto_id", "fresh_%s")
        super().__init__(*args, **kwargs)

    def clean_email(self) -> str:
        return self.cleaned_data["email"].strip().lower()


def send_fresh_links(email: str, *, now: datetime | None = None) -> int:
    """Email each reader with this address (in any course) a fresh preferences link, after commit;
    returns how many were sent (never shown: the page says the same either way). A suppressed
    address (bounced, complained) gets nothing."""
    from subscribers.sending import emails

    now = now or timezone.now()
    sent = 0
    readers = Subscriber.objects.filter(email=email.strip().lower()).exclude(status=Subscriber.Status.SUPPRESSED)
    for pk in readers.values_list("pk", flat=True):
        with transaction.atomic():
            reader = Subscriber.objects.select_for_update().select_related("course").get(pk=pk)
            recent = reader.events.filter(what=Event.What.LINK_SENT, at__gt=now - timedelta(days=1))
            if recent.count() >= FRESH_LINKS_PER_DAY:
                continue
            audit.record(
                reader, Event.What.LINK_SENT, why="asked for on the expired-link page", actor="visitor", at=now
            )
            transaction.on_commit(lambda reader=reader: emails.fresh_link(reader).send(), robust=True)
            sent += 1
    return sent
