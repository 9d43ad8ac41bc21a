"""The ESP webhooks answer 400 only for a payload anymail cannot read; an exception in our own
receivers is a 500 with its traceback logged (the ESP retries), and leaves nothing half-stored."""

from __future__ import annotations

import base64
import json
import logging
import uuid
from contextlib import contextmanager

import pytest
from anymail.signals import inbound, tracking
from django.db.models.signals import post_save
from django.test import Client

from subscribers.models import Delivery, Event, Reply, Subscriber, TrackingEvent
from subscribers.readers.addresses import reply_address
from subscribers.sending import drip, esp_payloads
from tests.conftest import AUTH, FIXTURES, outbox_to, send_checkin

pytestmark = pytest.mark.urls("tests.inbound_urls")


@pytest.fixture(autouse=True)
def _webhooks(webhook_secret) -> None:
    """Every webhook in this module presents AUTH."""


@pytest.fixture
def esp():
    """What the ESP sees: the response, never our exception (Django turns it into a 500)."""
    return Client(raise_request_exception=False)


def post(client: Client, payload: esp_payloads.Payload, auth=AUTH):
    return client.generic(
        "POST", payload.path, payload.body, content_type=payload.content_type,
        **{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in payload.headers.items()}, **auth,
    )  # fmt: skip


def carols_reply(carol: Subscriber, text: str) -> bytes:
    delivery = send_checkin(carol)
    checkin = outbox_to(carol.email)[-1]
    return esp_payloads.reply_mime(
        sender=carol.email, to=reply_address(carol.pk, delivery.pk), subject=checkin.subject,
        in_reply_to=checkin.message_id, quoted_from=checkin.from_email, quoted_text=checkin.text, text=text,
    )  # fmt: skip


def hard_bounce(delivery: Delivery) -> str:
    text = (FIXTURES / "tracking" / "postmark_hard_bounce.json").read_text()
    fields = {"$EVENT_ID": "4323372036854775807", "$MESSAGE_ID": delivery.provider_message_id,
              "$DELIVERY": str(delivery.pk), "$RECIPIENT": delivery.subscriber.email}  # fmt: skip
    for key, value in fields.items():
        text = text.replace(key, value)
    return text


def sent_welcome() -> Delivery:
    (delivery_id,) = drip.tick(queue=False).delivery_ids
    assert drip.send_delivery(delivery_id) == "sent"
    return Delivery.objects.select_related("subscriber").get(pk=delivery_id)


@contextmanager
def connected(signal, receiver, **kwargs):
    signal.connect(receiver, weak=False, **kwargs)
    try:
        yield
    finally:
        signal.disconnect(receiver, **kwargs)


def failures_logged(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "config.urls" and r.levelno == logging.ERROR]


# --- The sender's fault: 400 -------------------------------------------------------------------


def sns(message: str) -> esp_payloads.Payload:
    sns_id = str(uuid.uuid4())
    body = {"Type": "Notification", "MessageId": sns_id, "TopicArn": "arn:aws:sns:us-east-1:123456789012:inbound",
            "Message": message, "Timestamp": "2026-03-02T15:00:00.000Z"}  # fmt: skip
    headers = {"x-amz-sns-message-type": "Notification", "x-amz-sns-message-id": sns_id}
    return esp_payloads.Payload("/anymail/amazon_ses/inbound/", "text/plain", json.dumps(body).encode(), headers)


MALFORMED = {
    "postmark inbound, not JSON": esp_payloads.Payload("/anymail/postmark/inbound/", "application/json", b"{not", {}),
    "postmark inbound, a list": esp_payloads.Payload("/anymail/postmark/inbound/", "application/json", b"[1]", {}),
    "postmark inbound, a header without a name": esp_payloads.Payload(
        "/anymail/postmark/inbound/", "application/json", json.dumps({"Headers": [{"Value": "x"}]}).encode(), {}
    ),
    "postmark tracking, not JSON": esp_payloads.Payload("/anymail/postmark/tracking/", "application/json", b"{", {}),
    "amazon ses inbound, an SNS message that is not JSON": sns("not json {"),
    "amazon ses inbound, an SNS body that is not JSON": esp_payloads.Payload(
        "/anymail/amazon_ses/inbound/", "text/plain", b"{not json", {"x-amz-sns-message-type": "Notification"}
    ),
}


@pytest.mark.parametrize("payload", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_payload_anymail_cannot_parse_is_a_400_and_stores_nothing(esp, db, payload, caplog):
    response = post(esp, payload)

    assert response.status_code == 400
    assert response.content.startswith(b"Malformed webhook payload: ")
    assert Reply.objects.count() == TrackingEvent.objects.count() == 0
    assert failures_logged(caplog) == []
    assert any("malformed payload" in r.message for r in caplog.records if r.name == "config.urls")


def test_a_failed_verification_is_still_anymails_own_400(esp, carol, caplog):
    wrong = {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(b"esp:wrong").decode()}
    raw = carols_reply(carol, "3")

    assert post(esp, esp_payloads.postmark(raw), auth=wrong).status_code == 400
    assert post(esp, esp_payloads.mailgun(raw, "not-the-key")).status_code == 400
    assert Reply.objects.count() == 0
    assert failures_logged(caplog) == []


# --- Our fault: 500, logged, retried ------------------------------------------------------------


@pytest.mark.parametrize("error", [ValueError, KeyError, TypeError, AttributeError, RuntimeError])
@pytest.mark.parametrize("via", ["postmark", "mailgun", "amazon_ses"])
def test_an_exception_in_a_receiver_is_a_500_with_its_traceback_logged(esp, carol, via, error, caplog):
    raw = carols_reply(carol, "3")

    def broken(sender, event, esp_name, **kwargs):
        raise error("a bug in a receiver")

    with connected(inbound, broken, dispatch_uid="tests.broken"):
        response = post(esp, esp_payloads.BUILDERS[via](raw))

    assert response.status_code == 500
    (logged,) = failures_logged(caplog)
    assert (
        logged.message
        == f"webhook {esp_payloads.INBOUND_PATHS[via]}: failed on our side; answering 500 so the ESP retries"
    )
    assert logged.exc_info[0] is error
    assert "in broken" in logged.exc_text


def test_a_bug_in_the_reply_write_stores_nothing_and_the_retry_is_applied(
    esp, carol, eager_tasks, django_capture_on_commit_callbacks, caplog
):
    raw = carols_reply(carol, "I've started interviewing")

    def broken_write(sender, instance, created, **kwargs):
        raise AttributeError("'NoneType' object has no attribute 'pk'")

    with (
        connected(post_save, broken_write, sender=Reply, dispatch_uid="tests.broken-write"),
        django_capture_on_commit_callbacks(execute=True) as queued,
    ):
        response = post(esp, esp_payloads.postmark(raw))

    assert response.status_code == 500
    assert failures_logged(caplog)[0].exc_info[0] is AttributeError
    assert Reply.objects.count() == 0
    assert queued == []  # nothing was queued for processing either

    with django_capture_on_commit_callbacks(execute=True):  # the ESP retries, the bug is fixed
        assert post(esp, esp_payloads.postmark(raw)).status_code == 200
    carol.refresh_from_db()
    assert carol.stage == "interviewing"
    assert Reply.objects.get().status == Reply.Status.APPLIED


def test_a_bug_in_the_audit_write_of_a_bounce_rolls_the_whole_event_back(esp, alice, caplog):
    delivery = sent_welcome()
    events_before = Event.objects.count()

    def broken_audit(sender, instance, created, **kwargs):
        raise KeyError("reason")

    with connected(post_save, broken_audit, sender=Event, dispatch_uid="tests.broken-audit"):
        response = esp.post("/anymail/postmark/tracking/", hard_bounce(delivery), "application/json", **AUTH)

    assert response.status_code == 500
    assert failures_logged(caplog)[0].exc_info[0] is KeyError
    delivery.refresh_from_db()
    alice.refresh_from_db()
    assert TrackingEvent.objects.count() == 0
    assert (delivery.outcome, alice.status) == (Delivery.Outcome.NONE, "active")
    assert Event.objects.count() == events_before

    retried = esp.post("/anymail/postmark/tracking/", hard_bounce(delivery), "application/json", **AUTH)
    assert retried.status_code == 200
    alice.refresh_from_db()
    assert alice.status == "suppressed"
    assert TrackingEvent.objects.count() == 1


def test_a_tracking_receiver_that_raises_is_a_500(esp, alice, caplog):
    delivery = sent_welcome()

    def broken(sender, event, esp_name, **kwargs):
        raise ValueError("a bug in a receiver")

    with connected(tracking, broken, dispatch_uid="tests.broken-tracking"):
        response = esp.post("/anymail/postmark/tracking/", hard_bounce(delivery), "application/json", **AUTH)

    assert response.status_code == 500
    assert failures_logged(caplog)[0].exc_info[0] is ValueError
