"""Tracking webhooks (flow 7): delivered, bounced, complained and unsubscribed events from
Postmark, Mailgun and Amazon SES update the Delivery; hard bounces and complaints suppress."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from subscribers.models import Delivery, Event, Subscriber, TrackingEvent
from subscribers.sending import drip
from tests.conftest import AUTH, FIXTURES, SIGNING_KEY, outbox_to

pytestmark = pytest.mark.urls("tests.inbound_urls")


@pytest.fixture(autouse=True)
def _webhooks(webhook_secret) -> None:
    """Every webhook in this module presents AUTH."""


def sent_welcome(reader: Subscriber) -> Delivery:
    (delivery_id,) = drip.tick(queue=False).delivery_ids
    assert drip.send_delivery(delivery_id) == "sent"
    return Delivery.objects.get(pk=delivery_id)


def fixture(name: str, delivery: Delivery, **values: str) -> str:
    text = (FIXTURES / "tracking" / name).read_text()
    fields = {
        "$MESSAGE_ID": delivery.provider_message_id,
        "$RECIPIENT": delivery.subscriber.email,
        "$DELIVERY": str(delivery.pk),
        "$EVENT_ID": str(values.pop("event_id", 4323372036854775807)),
        **{f"${key.upper()}": value for key, value in values.items()},
    }
    for key, value in fields.items():
        text = text.replace(key, value)
    return text


def postmark(client, body: str):
    return client.post("/anymail/postmark/tracking/", body, content_type="application/json", **AUTH)


def test_a_delivered_event_records_the_outcome(alice, client):
    delivery = sent_welcome(alice)
    assert postmark(client, fixture("postmark_delivery.json", delivery)).status_code == 200

    delivery.refresh_from_db()
    assert delivery.outcome == "delivered"
    assert delivery.outcome_at.isoformat() == "2026-03-02T16:01:33+00:00"
    assert TrackingEvent.objects.get().effect == "delivered"


def test_a_hard_bounce_suppresses_the_reader_and_nothing_more_is_sent(alice, client):
    delivery = sent_welcome(alice)
    response = postmark(client, fixture("postmark_hard_bounce.json", delivery))

    assert response.status_code == 200
    delivery.refresh_from_db()
    alice.refresh_from_db()
    assert delivery.outcome == "bounced"
    assert (alice.status, alice.next_send_at) == ("suppressed", None)
    event = Event.objects.get(subscriber=alice, what="status_changed")
    assert (event.before, event.after, event.actor) == ("active", "suppressed", "esp:postmark")
    assert "bounced" in event.why

    with time_machine.travel(timezone.now() + timedelta(days=60), tick=False):
        assert drip.tick(queue=False).planned == 0
    assert len(outbox_to("alice@example.com")) == 1


def test_a_bounce_for_a_delivery_already_queued_cancels_it(alice, client):
    delivery = sent_welcome(alice)
    alice.refresh_from_db()
    with time_machine.travel(alice.next_send_at, tick=False):
        (next_id,) = drip.tick(queue=False).delivery_ids  # planned, its task not yet run
        postmark(client, fixture("postmark_hard_bounce.json", delivery))
        assert drip.send_delivery(next_id) == "cancelled: reader is suppressed"
    assert len(outbox_to("alice@example.com")) == 1


def test_the_same_webhook_twice_is_kept_and_applied_once(alice, client):
    delivery = sent_welcome(alice)
    body = fixture("postmark_hard_bounce.json", delivery)
    assert postmark(client, body).status_code == 200
    assert postmark(client, body).status_code == 200

    assert TrackingEvent.objects.count() == 1
    assert Event.objects.filter(subscriber=alice, what="status_changed").count() == 1


def test_a_spam_complaint_suppresses(alice, client):
    delivery = sent_welcome(alice)
    assert postmark(client, fixture("postmark_spam_complaint.json", delivery)).status_code == 200
    delivery.refresh_from_db()
    alice.refresh_from_db()
    assert (delivery.outcome, alice.status) == ("complained", "suppressed")


def test_soft_bounces_wait_for_the_limit_in_a_row_then_suppress(alice, client, settings):
    settings.SOFT_BOUNCE_LIMIT = 3
    for week in range(3):
        alice.refresh_from_db()
        assert alice.status == "active", f"still active before soft bounce {week + 1}"
        with time_machine.travel(alice.next_send_at or timezone.now(), tick=False):
            (delivery_id,) = drip.tick(queue=False).delivery_ids
            drip.send_delivery(delivery_id)
            delivery = Delivery.objects.get(pk=delivery_id)
            postmark(client, fixture("postmark_soft_bounce.json", delivery, event_id=1000 + week))
        assert Delivery.objects.get(pk=delivery_id).outcome == "soft-bounced"
        if week == 0:  # a delivered email in between resets the count
            postmark(client, fixture("postmark_delivery.json", Delivery.objects.get(pk=delivery_id)))
            alice.refresh_from_db()
            assert alice.status == "active"

    alice.refresh_from_db()
    assert alice.status == "active", "two in a row since the last delivery: not yet"
    with time_machine.travel(alice.next_send_at, tick=False):
        (delivery_id,) = drip.tick(queue=False).delivery_ids
        drip.send_delivery(delivery_id)
        postmark(client, fixture("postmark_soft_bounce.json", Delivery.objects.get(pk=delivery_id), event_id=2000))
    alice.refresh_from_db()
    assert alice.status == "suppressed"
    assert "3 soft bounces in a row" in Event.objects.get(subscriber=alice, after="suppressed").why


def mailgun_body(delivery: Delivery, key: str = SIGNING_KEY) -> str:
    timestamp, token = str(int(time.time())), uuid.uuid4().hex
    signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return fixture("mailgun_complained.json", delivery, timestamp=timestamp, token=token, signature=signature)


def test_a_mailgun_complaint_is_verified_by_signature_then_suppresses(alice, client):
    delivery = sent_welcome(alice)
    url = "/anymail/mailgun/tracking/"

    assert client.post(url, mailgun_body(delivery, "not-the-key"), "application/json", **AUTH).status_code == 400
    alice.refresh_from_db()
    assert alice.status == "active"
    assert client.post(url, mailgun_body(delivery), "application/json", **AUTH).status_code == 200
    alice.refresh_from_db()
    assert alice.status == "suppressed"
    assert TrackingEvent.objects.get().esp == "mailgun"


def test_an_amazon_ses_permanent_bounce_arrives_by_sns_and_suppresses(alice, client):
    delivery = sent_welcome(alice)
    sns_id = str(uuid.uuid4())
    sns = {
        "Type": "Notification", "MessageId": sns_id, "TopicArn": "arn:aws:sns:us-east-1:123456789012:ses-events",
        "Message": fixture("amazon_ses_bounce.json", delivery), "Timestamp": "2026-03-02T16:02:11.000Z",
        "SignatureVersion": "1", "Signature": "EXAMPLE",
        "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-example.pem",
    }  # fmt: skip
    headers = {"HTTP_X_AMZ_SNS_MESSAGE_TYPE": "Notification", "HTTP_X_AMZ_SNS_MESSAGE_ID": sns_id}
    response = client.post("/anymail/amazon_ses/tracking/", json.dumps(sns), "text/plain", **headers, **AUTH)

    assert response.status_code == 200
    alice.refresh_from_db()
    delivery.refresh_from_db()
    assert (delivery.outcome, alice.status) == ("bounced", "suppressed")


def test_a_bounce_for_an_address_we_cannot_match_to_a_delivery_suppresses_that_address(alice, client):
    sent_welcome(alice)
    stranger = Delivery(pk=999_999, provider_message_id="not-ours", subscriber=alice)
    postmark(client, fixture("postmark_hard_bounce.json", stranger))
    alice.refresh_from_db()
    assert alice.status == "suppressed"


def test_webhooks_without_the_secret_or_with_a_malformed_body_change_nothing(alice, client):
    delivery = sent_welcome(alice)
    body = fixture("postmark_hard_bounce.json", delivery)
    assert client.post("/anymail/postmark/tracking/", body, content_type="application/json").status_code in (400, 401)
    assert postmark(client, "{not json").status_code == 400
    assert postmark(client, json.dumps({"RecordType": "Bounce"})).status_code in (200, 400)
    alice.refresh_from_db()
    assert alice.status == "active"
