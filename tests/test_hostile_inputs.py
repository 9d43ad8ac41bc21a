"""Hostile input at the webhooks is a clear 4xx or a 200 that stores it safely, never a 500 the
sender would retry: deep MIME and JSON, NUL characters, oversized ids, null fields, future stamps."""

from __future__ import annotations

import json
import time

import pytest
import stripe
from django.test import Client

from subscribers.models import Event, Payment, Reply, StripeEvent
from subscribers.replies import inbound
from subscribers.sending import esp_payloads
from tests.conftest import AUTH
from tests.test_checkout import WEBHOOK_SECRET, paid_event, post_event, sign_up, stripe_event, stripe_keys  # noqa: F401


@pytest.fixture(autouse=True)
def _webhooks(webhook_secret) -> None:
    """Every ESP webhook here presents AUTH."""


@pytest.fixture
def sender():
    """What the ESP or Stripe sees: the response, never our exception (Django turns it into a 500)."""
    return Client(raise_request_exception=False)


def post_reply(client: Client, raw: bytes):
    payload = esp_payloads.postmark(raw)
    return client.generic("POST", payload.path, payload.body, content_type=payload.content_type, **AUTH)


def simple_reply(subject: str = "Re: week 4", message_id: str = "<r-1@mail.example>") -> bytes:
    return (
        f"From: Carol <carol@example.com>\r\nTo: checkin+abc@reply.pivotpath.localhost\r\n"
        f"Subject: {subject}\r\nMessage-ID: {message_id}\r\n\r\nstage 3\r\n"
    ).encode()


# --- Inbound replies ---------------------------------------------------------------------------


def test_a_reply_nested_400_multipart_levels_deep_is_answered_without_a_500(sender, db):
    levels = 400
    head = b"From: carol@example.com\r\nTo: checkin+abc@reply.pivotpath.localhost\r\nSubject: deep\r\n"
    head += b"Message-ID: <deep-1@mail.example>\r\n"
    body = b""
    for level in range(levels):
        body += f'Content-Type: multipart/mixed; boundary="b{level}"\r\n\r\n--b{level}\r\n'.encode()
    body += b"Content-Type: text/plain\r\n\r\nstage 3\r\n"
    for level in reversed(range(levels)):
        body += f"--b{level}--\r\n".encode()

    response = post_reply(sender, head + body)

    assert response.status_code == 200, response.status_code
    reply = Reply.objects.get(message_id="<deep-1@mail.example>")
    assert reply.subject == "deep"
    assert "body not kept, MIME nested over 30 levels" in reply.raw
    inbound.process(reply.pk)  # read without recursing: no token, nothing applied
    reply.refresh_from_db()
    assert reply.status == Reply.Status.IGNORED


def test_a_reply_nested_a_few_levels_is_kept_whole(sender, db):
    raw = simple_reply().replace(b"\r\n\r\nstage 3", b'\r\nContent-Type: multipart/mixed; boundary="x"\r\n\r\n'
                                 b"--x\r\nContent-Type: text/plain\r\n\r\nstage 3\r\n--x--\r\n")  # fmt: skip
    assert post_reply(sender, raw).status_code == 200
    assert "stage 3" in Reply.objects.get().raw


@pytest.mark.parametrize("header", ["Subject", "Message-ID", "From"])
def test_a_nul_in_a_reply_header_is_stored_without_it(sender, db, header):
    raw = simple_reply(subject="Re: week\x00 4", message_id="<nul\x00-1@mail.example>")
    if header == "From":
        raw = raw.replace(b"From: Carol <carol@example.com>", b"From: Carol\x00 <carol@example.com>")

    response = post_reply(sender, raw)

    assert response.status_code == 200, response.content
    reply = Reply.objects.get()
    assert "\x00" not in reply.subject + reply.message_id + reply.sender + reply.raw
    assert post_reply(sender, raw).status_code == 200  # a retry is the same message, dropped
    assert Reply.objects.count() == 1


# --- Stripe ------------------------------------------------------------------------------------


def test_a_signed_event_with_a_nul_is_applied_and_stored_without_it(sender, course):
    signup = sign_up(course)
    event = paid_event(signup)
    event["data"]["object"]["customer_details"] = {"name": "Carol\x00 Smith", "email": "carol@example.com"}

    response = post_event(sender, event)

    assert response.status_code == 200, response.content
    stored = StripeEvent.objects.get()
    assert "\x00" not in json.dumps(stored.payload)
    assert stored.payload["data"]["object"]["customer_details"]["name"] == "Carol Smith"
    assert Payment.objects.get().enrolled


def test_an_event_id_over_255_characters_is_a_400_and_not_stored(sender, course):
    event = stripe_event("charge.refunded")
    event["id"] = "evt_" + "x" * 300

    response = post_event(sender, event)

    assert response.status_code == 400
    assert response.text == "malformed event: id is longer than 255 characters"
    assert StripeEvent.objects.count() == 0


@pytest.mark.parametrize(
    "changes, reason",
    [
        ({"payment_intent": "pi_" + "x" * 300}, "payment_intent is longer than 255 characters"),
        ({"currency": "usd" * 10}, "currency is longer than 3 characters"),
    ],
)
def test_ids_and_codes_longer_than_their_columns_are_a_400(sender, course, changes, reason):
    response = post_event(sender, paid_event(sign_up(course), **changes))

    assert response.status_code == 400
    assert reason in response.text
    assert (StripeEvent.objects.count(), Payment.objects.count()) == (0, 0)


def test_json_nested_100000_deep_is_a_400(sender, course):
    body = '{"id": "evt_deep", "type": "x", "data": ' + "[" * 100_000 + "]" * 100_000 + "}"
    signature = stripe.WebhookSignature.generate_signature_header(body, WEBHOOK_SECRET)

    response = sender.post(
        "/stripe/webhook/", body, content_type="application/json", headers={"Stripe-Signature": signature}
    )

    assert response.status_code == 400
    assert response.text == "malformed event: nested too deep"
    assert StripeEvent.objects.count() == 0


def test_a_dispute_with_no_payment_intent_is_a_200_and_is_recorded(sender, course):
    event = stripe_event("charge.dispute.created", payment_intent=None)

    response = post_event(sender, event)

    assert response.status_code == 200, response.content
    stored = StripeEvent.objects.get()
    assert stored.outcome.startswith("dispute without a payment intent")
    assert Payment.objects.count() == 0
    audit = Event.objects.get(what=Event.What.PAYMENT_DISPUTED)
    assert "names no payment intent" in audit.why and audit.subscriber is None
    assert post_event(sender, event).status_code == 200  # Stripe's retry: already received
    assert StripeEvent.objects.count() == 1


@pytest.mark.parametrize("ahead, status", [(299, 200), (301, 400), (3600, 400)])
def test_a_timestamp_beyond_the_tolerance_in_the_future_is_refused(sender, course, ahead, status):
    response = post_event(sender, paid_event(sign_up(course)), timestamp=int(time.time()) + ahead)

    assert response.status_code == status
    if status == 400:
        assert response.text == "bad signature: timestamp more than 300 s in the future"
        assert StripeEvent.objects.count() == 0
