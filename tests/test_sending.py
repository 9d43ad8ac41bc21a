"""Sending through the ESP (flow 3): batch calls where the ESP substitutes per-recipient data,
one request each otherwise; transient failures retried with backoff, permanent ones failed;
a retry never resends what was sent; the sending rate held under bursts."""

from __future__ import annotations

import json
import smtplib
from datetime import timedelta
from urllib.parse import parse_qs

import pytest
import responses
from anymail.exceptions import AnymailAPIError, AnymailRequestsAPIError
from django.utils import timezone

from subscribers.models import Delivery, Event
from subscribers.sending import drip, throttle
from tests.conftest import enrol

MAILGUN_URL = "https://api.mailgun.net/v3/pivotpath.localhost/messages"
POSTMARK_URL = "https://api.postmarkapp.com/email"


@pytest.fixture
def readers(course):
    return [enrol(course, f"{name}@example.com", first_name=name.title()) for name in ("ana", "ben", "cy")]


@pytest.fixture
def mailgun(settings):
    settings.EMAIL_BACKEND = "anymail.backends.mailgun.EmailBackend"
    settings.ANYMAIL = {
        **settings.ANYMAIL,
        "MAILGUN_API_KEY": "key-test",
        "MAILGUN_SENDER_DOMAIN": "pivotpath.localhost",
    }
    settings.ANYMAIL_ESP = "mailgun"
    settings.SEND_RATE_PER_SECOND = 0
    with responses.RequestsMock() as esp:
        esp.post(MAILGUN_URL, json={"id": "<batch-1@pivotpath.localhost>", "message": "Queued. Thank you."})
        yield esp


def postmark_answer(request):
    to = json.loads(request.body)["To"]
    return 200, {}, json.dumps({"To": to, "MessageID": f"pm-{to}", "ErrorCode": 0, "Message": "OK"})


@pytest.fixture
def postmark(settings):
    settings.EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    settings.ANYMAIL = {**settings.ANYMAIL, "POSTMARK_SERVER_TOKEN": "server-token"}
    settings.ANYMAIL_ESP = "postmark"
    settings.SEND_RATE_PER_SECOND = 0
    with responses.RequestsMock() as esp:
        yield esp


def test_deliveries_of_one_lesson_version_go_out_in_one_mailgun_batch_call(readers, mailgun):
    ids = drip.tick(queue=False).delivery_ids
    report = drip.send_deliveries(ids)

    assert set(report.outcomes.values()) == {"sent"}
    assert len(mailgun.calls) == 1 and report.requests == 1
    body = mailgun.calls[0].request.body
    form = parse_qs(body.decode() if isinstance(body, bytes) else body)
    variables, subject = json.loads(form["recipient-variables"][0]), form["subject"][0]
    assert subject == "Welcome, %recipient.first_name%"
    assert {email: values["first_name"] for email, values in variables.items()} == {
        "ana@example.com": "Ana",
        "ben@example.com": "Ben",
        "cy@example.com": "Cy",
    }
    unsubscribe_urls = {values["h:List-Unsubscribe"] for values in variables.values()}
    assert len(unsubscribe_urls) == 3, "each reader gets their own signed unsubscribe link"
    assert {values["v:delivery"] for values in variables.values()} == {str(pk) for pk in ids}
    assert set(Delivery.objects.values_list("state", "provider_message_id")) == {
        ("sent", "<batch-1@pivotpath.localhost>")
    }


def test_without_batch_support_each_delivery_is_one_request(readers, postmark):
    postmark.add_callback(responses.POST, POSTMARK_URL, callback=postmark_answer)
    report = drip.send_deliveries(drip.tick(queue=False).delivery_ids)

    assert report.requests == 3 and len(postmark.calls) == 3
    assert sorted(Delivery.objects.values_list("provider_message_id", flat=True)) == [
        "pm-ana@example.com",
        "pm-ben@example.com",
        "pm-cy@example.com",
    ]
    headers = {h["Name"]: h["Value"] for h in json.loads(postmark.calls[0].request.body)["Headers"]}
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert json.loads(postmark.calls[0].request.body)["Metadata"] == {"delivery": str(min(report.outcomes))}


def test_a_transient_failure_is_retried_later_and_only_the_failed_delivery_is_sent_again(readers, postmark):
    answers = iter([postmark_answer, lambda request: (503, {}, "Service Unavailable"), postmark_answer])
    postmark.add_callback(responses.POST, POSTMARK_URL, callback=lambda request: next(answers)(request))
    ids = drip.tick(queue=False).delivery_ids
    now = timezone.now()
    report = drip.send_deliveries(ids, now=now)

    failed = Delivery.objects.get(state="pending")
    assert report.outcomes[failed.pk].startswith("failed (will retry in")
    assert failed.retry_at == report.retry_at[failed.pk]
    assert timedelta(seconds=15) <= failed.retry_at - now <= timedelta(seconds=30)
    assert "503" in failed.error

    answers = iter([postmark_answer])
    assert drip.send_deliveries(ids, now=now + timedelta(seconds=5)).requests == 0, "not before its retry time"
    report = drip.send_deliveries(ids, now=failed.retry_at)
    assert report.requests == 1 and report.outcomes[failed.pk] == "sent"
    assert len(postmark.calls) == 4, "three first tries and one retry, nothing sent twice"
    assert set(Delivery.objects.values_list("state", flat=True)) == {"sent"}


def test_a_permanent_failure_fails_the_delivery_at_once_with_the_reason(alice, postmark):
    postmark.post(
        POSTMARK_URL, status=422, json={"ErrorCode": 300, "Message": "Invalid 'To' address: 'alice@example.com'."}
    )
    (delivery_id,) = drip.tick(queue=False).delivery_ids
    outcome = drip.send_delivery(delivery_id)

    assert outcome.startswith("failed (permanent)")
    delivery = Delivery.objects.get(pk=delivery_id)
    assert (delivery.state, delivery.attempts, delivery.retry_at) == ("failed", 1, None)
    assert "AnymailRecipientsRefused: All message recipients were rejected or invalid" in delivery.error
    assert Event.objects.get(subscriber=alice, what="delivery_failed").after == {"attempts": 1, "transient": False}
    alice.refresh_from_db()
    assert alice.next_send_at is not None, "the course goes on next week"


def requests_error(status: int) -> AnymailRequestsAPIError:
    error = AnymailRequestsAPIError("ESP error")
    error.status_code = status
    return error


def ses_error(code: str, status: int) -> AnymailAPIError:
    return AnymailAPIError(
        "SES error", response={"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
    )


@pytest.mark.parametrize(
    "error, transient",
    [
        (requests_error(429), True),
        (requests_error(500), True),
        (requests_error(503), True),
        (requests_error(408), True),
        (requests_error(422), False),
        (requests_error(401), False),
        (requests_error(200), False),  # an answer we could not read: it may have been sent
        (TimeoutError("timed out"), True),
        (ConnectionRefusedError("refused"), True),
        (smtplib.SMTPServerDisconnected("gone"), True),
        (smtplib.SMTPDataError(451, b"try again later"), True),
        (smtplib.SMTPDataError(554, b"rejected"), False),
        (smtplib.SMTPRecipientsRefused({"a@example.com": (550, b"no such user")}), False),
        (smtplib.SMTPRecipientsRefused({"a@example.com": (452, b"mailbox full")}), True),
        (ses_error("Throttling", 400), True),
        (ses_error("MessageRejected", 400), False),
        (ses_error("InternalFailure", 500), True),
        (ValueError("a bug"), False),
    ],
)
def test_it_tells_transient_failures_from_permanent_ones(error, transient):
    assert drip.is_transient(error) is transient


def test_the_token_bucket_allows_a_burst_then_holds_the_rate(db, settings):
    settings.SEND_RATE_PER_SECOND, settings.SEND_BURST = 10, 20
    start = timezone.now()

    assert throttle.take("postmark", 20, now=start) == 0, "the burst goes at once"
    assert throttle.take("postmark", 10, now=start) == pytest.approx(1.0)
    assert throttle.take("postmark", 10, now=start) == pytest.approx(2.0), "reservations queue up"
    assert throttle.take("postmark", 5, now=start + timedelta(seconds=2)) == pytest.approx(0.5)
    later = start + timedelta(minutes=5)
    assert throttle.take("postmark", 20, now=later) == 0, "an idle bucket refills up to the burst, not beyond"
    assert throttle.take("postmark", 1, now=later) == pytest.approx(0.1)


def test_each_esp_has_its_own_rate_and_none_means_no_limit(db, settings):
    settings.SEND_RATE_PER_SECOND, settings.SEND_BURST = None, 0
    now = timezone.now()
    assert throttle.rate_for("amazon_ses") == throttle.Rate(14, 28)
    assert throttle.take("outbox", 10_000, now=now) == 0
    throttle.take("amazon_ses", 28, now=now)
    assert throttle.take("amazon_ses", 14, now=now) == pytest.approx(1.0)
    assert throttle.take("postmark", 100, now=now) == 0
