"""The reply confirmation is a retried Celery task: queued after the reply is applied (or resolved
in review), rebuilt from the stored Reply, retried on transient ESP errors, sent once."""

from __future__ import annotations

import logging
import smtplib

import pytest
import time_machine
from anymail.inbound import AnymailInboundMessage
from django.utils import timezone

from subscribers.models import Reply, Subscriber
from subscribers.readers.addresses import reply_address
from subscribers.replies import inbound
from subscribers.sending import esp_payloads
from subscribers.sending.outbox import OutboxBackend
from subscribers.tasks import send_reply_confirmation
from tests.conftest import outbox_to, send_checkin


class FlakyBackend(OutboxBackend):
    """The local outbox behind an ESP connection that fails: the first `failures` sends raise `error`."""

    failures = 0
    error: Exception = smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
    attempts = 0

    def send_messages(self, email_messages):
        FlakyBackend.attempts += 1
        if FlakyBackend.attempts <= FlakyBackend.failures:
            raise FlakyBackend.error
        return super().send_messages(email_messages)


@pytest.fixture
def flaky(settings):
    """The ESP fails the next sends: set `flaky.failures` (and `flaky.error`) after the check-in went out."""
    settings.EMAIL_BACKEND = "tests.test_confirmation_task.FlakyBackend"
    FlakyBackend.failures, FlakyBackend.attempts = 0, 0
    FlakyBackend.error = smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
    yield FlakyBackend
    FlakyBackend.failures, FlakyBackend.attempts = 0, 0


def failing(flaky, times: int, error: Exception | None = None) -> None:
    flaky.failures, flaky.attempts = times, 0
    if error is not None:
        flaky.error = error


def answer(reader: Subscriber, text: str) -> AnymailInboundMessage:
    """Carol's reply to her latest check-in, as anymail hands it to the receiver."""
    delivery = reader.deliveries.get(lesson__kind="checkin")
    checkin = outbox_to(reader.email)[-1]
    raw = esp_payloads.reply_mime(
        sender=reader.email, to=reply_address(reader.pk, delivery.pk), subject=checkin.subject,
        in_reply_to=checkin.message_id, quoted_from=checkin.from_email, quoted_text=checkin.text, text=text,
    )  # fmt: skip
    return AnymailInboundMessage.parse_raw_mime_bytes(raw)


def reply(reader: Subscriber, text: str, capture) -> Reply:
    """The reply is stored and its tasks run, as after the webhook."""
    with capture(execute=True):
        stored = inbound.store(answer(reader, text), esp="Postmark")
    stored.refresh_from_db()
    return stored


def confirmations(reader: Subscriber) -> list:
    return [message for message in outbox_to(reader.email) if "We read your reply as" in message.text]


def test_a_transient_esp_error_is_retried_and_the_confirmation_arrives_once(
    carol, flaky, eager_tasks, django_capture_on_commit_callbacks, caplog
):
    send_checkin(carol)
    failing(flaky, 2)

    with caplog.at_level(logging.WARNING, logger="subscribers.tasks"):
        applied = reply(carol, "I've started interviewing", django_capture_on_commit_callbacks)

    assert applied.status == Reply.Status.APPLIED
    (confirmation,) = confirmations(carol)
    assert "stage 4, interviewing" in confirmation.text
    assert confirmation.headers["In-Reply-To"] == applied.message_id
    assert flaky.attempts == 3
    assert [r.message for r in caplog.records if "will retry" in r.message] == [
        f"reply {applied.pk}: confirmation not sent, will retry: Connection unexpectedly closed"
    ] * 2
    assert "sent_at" in applied.applied["confirmation"]


def test_the_task_run_twice_sends_once(carol, flaky, eager_tasks, django_capture_on_commit_callbacks):
    send_checkin(carol)
    applied = reply(carol, "3", django_capture_on_commit_callbacks)

    send_reply_confirmation.delay(applied.pk)  # a redelivered message

    assert len(confirmations(carol)) == 1
    assert inbound.send_confirmation(applied.pk) == "skipped: sent already"


def test_a_permanent_error_is_logged_and_not_retried(
    carol, flaky, eager_tasks, django_capture_on_commit_callbacks, caplog
):
    send_checkin(carol)
    refused = smtplib.SMTPRecipientsRefused({"carol@example.com": (550, b"5.1.1 no such mailbox")})
    failing(flaky, 100, refused)

    with caplog.at_level(logging.ERROR, logger="subscribers.tasks"):
        applied = reply(carol, "2", django_capture_on_commit_callbacks)

    carol.refresh_from_db()
    assert carol.stage == "conversations"  # the change stands
    assert flaky.attempts == 1
    assert confirmations(carol) == []
    (record,) = [r for r in caplog.records if r.name == "subscribers.tasks"]
    assert record.message.startswith(f"reply {applied.pk}: confirmation not sent, permanent error (not retried)")
    assert record.exc_info is not None


def test_an_esp_that_stays_down_is_given_up_on_after_five_retries(
    carol, flaky, eager_tasks, django_capture_on_commit_callbacks, caplog
):
    send_checkin(carol)
    failing(flaky, 100)

    with caplog.at_level(logging.ERROR, logger="subscribers.tasks"):
        applied = reply(carol, "pause please", django_capture_on_commit_callbacks)

    assert flaky.attempts == 6
    assert confirmations(carol) == []
    assert [r.message for r in caplog.records if r.levelno == logging.ERROR] == [
        f"reply {applied.pk}: confirmation not sent, giving up after 6 attempts: Connection unexpectedly closed"
    ]
    applied.refresh_from_db()
    assert "confirmation" not in applied.applied  # released: a later run may still send it


def test_a_claim_held_by_a_worker_that_died_is_taken_over_later(carol, flaky, django_capture_on_commit_callbacks):
    send_checkin(carol)
    with django_capture_on_commit_callbacks():  # the queued tasks never run
        applied = inbound.store(answer(carol, "4"), esp="Postmark")
        inbound.process(applied.pk)
    applied.refresh_from_db()
    now = timezone.now()
    Reply.objects.filter(pk=applied.pk).update(
        applied={**applied.applied, "confirmation": {"claimed_at": now.isoformat()}}
    )

    assert inbound.send_confirmation(applied.pk, now=now + inbound.CONFIRMATION_CLAIM / 2) == "skipped: being sent"
    assert confirmations(carol) == []
    with time_machine.travel(now + inbound.CONFIRMATION_CLAIM * 2, tick=False):
        assert inbound.send_confirmation(applied.pk) == "sent"
    assert len(confirmations(carol)) == 1


def test_a_review_decision_confirms_through_the_same_retried_task(
    carol, flaky, eager_tasks, django_capture_on_commit_callbacks
):
    send_checkin(carol)
    unclear = reply(carol, "2 or 3", django_capture_on_commit_callbacks)
    assert unclear.status == Reply.Status.REVIEW
    assert confirmations(carol) == []
    failing(flaky, 1)

    with django_capture_on_commit_callbacks(execute=True):
        inbound.resolve(unclear, actor="admin:reviewer", stage="searching")

    (confirmation,) = confirmations(carol)
    assert "stage 3, searching" in confirmation.text
    assert flaky.attempts == 2
