from __future__ import annotations

from subscribers.sending import drip
from tests.conftest import outbox_to


def test_the_outbox_page_lists_emails_and_shows_both_parts(alice, client, settings):
    settings.OUTBOX_PAGE_ENABLED = True
    drip.send_delivery(drip.tick(queue=False).delivery_ids[0])
    (message,) = outbox_to("alice@example.com")

    listing = client.get("/dev/outbox/")
    detail = client.get(f"/dev/outbox/{message.pk}/")

    assert listing.status_code == 200
    assert "Welcome, Alice" in listing.text
    assert detail.status_code == 200
    assert "Plain-text part" in detail.text
    assert "srcdoc=" in detail.text


def test_the_outbox_page_is_off_in_production(client, settings, db):
    settings.OUTBOX_PAGE_ENABLED = False
    assert client.get("/dev/outbox/").status_code == 404
