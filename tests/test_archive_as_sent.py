"""The lesson archive shows each email as it was sent, not as it would read after later changes."""

from __future__ import annotations

from datetime import timedelta

from django.test import Client

from subscribers.models import Delivery
from subscribers.readers import changes
from subscribers.readers.links import preferences_url
from subscribers.sending import drip

BODY = """At sign-up you chose {{ destination_name }}; your license: {{ license_plan }}.

::: for destination=payer
A payer paragraph.
:::
"""


def path_of(url: str) -> str:
    return url.removeprefix("https://course.example.com")


def test_switching_track_later_does_not_rewrite_what_the_archive_shows(alice, frozen_clock):
    assert drip.send_delivery(drip.tick(queue=False).delivery_ids[0]) == "sent"
    delivery = Delivery.objects.get(subscriber=alice, state="sent")
    version = delivery.version
    version.body = BODY
    version.save(update_fields=["body"])

    later = frozen_clock + timedelta(days=3)
    changes.change_destination(alice, "clinical-informatics", actor="reader", why="reply", now=later)
    changes.change_license_plan(alice, "let-go", actor="reader", why="reply", now=later + timedelta(hours=1))
    alice.refresh_from_db()

    base = path_of(preferences_url(alice))
    page = Client().get(f"{base}lessons/{delivery.lesson.slug}/").content.decode()
    assert "At sign-up you chose payer; your license: not decided." in page
    assert "A payer paragraph." in page
    assert "clinical informatics" not in page

    # A change made before the email went out is part of it.
    changes.change_destination(alice, "payer", actor="reader", why="reply", now=later + timedelta(days=1))
    delivery.sent_at = later + timedelta(days=2)
    delivery.save(update_fields=["sent_at"])
    page = Client().get(f"{base}lessons/{delivery.lesson.slug}/").content.decode()
    assert "your license: let it lapse." in page
