"""Trust the sender only when the ESP does: a reply whose From fails authentication or is flagged as
spam changes nothing and goes to review with that reason, through the real anymail webhooks."""

from __future__ import annotations

import dataclasses
import json

import pytest

from subscribers.models import ConversationMessage, Reply
from subscribers.sending import esp_payloads
from tests.conftest import send_checkin
from tests.test_checkins import a_reply, post, reply_by_postmark


@pytest.fixture(autouse=True)
def _webhooks(webhook_secret) -> None:
    """Every webhook in this module presents AUTH."""


def with_headers(raw: bytes, *headers: str) -> bytes:
    return "".join(f"{header}\r\n" for header in headers).encode() + raw


def outcome(carol) -> Reply:
    carol.refresh_from_db()
    return Reply.objects.get()


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        (["X-Spam-Status: Yes"], "flagged it as spam"),
        (["Authentication-Results: mx.example.net; spf=pass smtp.mailfrom=x; dkim=none; dmarc=fail"], "DMARC fail"),
        (["Authentication-Results: mx.example.net; spf=softfail smtp.mailfrom=x; dkim=fail"], "SPF fail"),
        # a forger's own "pass" does not hide the receiving server's "fail"
        (["Authentication-Results: forged.example; dmarc=pass", "Authentication-Results: mx.example.net; dmarc=fail"],
         "DMARC fail"),
    ],
)  # fmt: skip
def test_a_reply_the_esp_or_the_receiving_server_doubts_changes_nothing(
    carol, client, eager_tasks, django_capture_on_commit_callbacks, headers, why
):
    delivery = send_checkin(carol)
    reply_by_postmark(client, django_capture_on_commit_callbacks, with_headers(a_reply(carol, delivery, "5"), *headers))

    reply = outcome(carol)
    assert carol.stage == "deciding"
    assert reply.status == Reply.Status.REVIEW and why in reply.reason and "not trusted" in reply.reason
    assert reply.understood["stage"] == "landed"  # read, for the person who looks
    assert not ConversationMessage.objects.filter(author="system").exists(), "no acknowledgement to a doubtful sender"


@pytest.mark.urls("tests.inbound_urls")
def test_an_ses_dmarc_failure_sends_the_reply_to_review(carol, client, eager_tasks, django_capture_on_commit_callbacks):
    delivery = send_checkin(carol)
    payload = esp_payloads.amazon_ses(a_reply(carol, delivery, "Switch me to payer please"))
    notification = json.loads(payload.body)
    event = json.loads(notification["Message"])
    event["receipt"] |= {"spfVerdict": {"status": "PASS"}, "dkimVerdict": {"status": "FAIL"},
                         "dmarcVerdict": {"status": "FAIL"}}  # fmt: skip
    notification["Message"] = json.dumps(event)
    payload = dataclasses.replace(payload, body=json.dumps(notification).encode())
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, payload).status_code == 200

    reply = outcome(carol)
    assert carol.destination != "payer"
    assert reply.status == Reply.Status.REVIEW
    assert "dkimVerdict FAIL" in reply.reason and "dmarcVerdict FAIL" in reply.reason


def test_a_reply_that_passes_is_applied_as_before(carol, client, eager_tasks, django_capture_on_commit_callbacks):
    delivery = send_checkin(carol)
    raw = with_headers(a_reply(carol, delivery, "3"), "Authentication-Results: mx.example.net; spf=pass; dkim=pass;"
                       " dmarc=pass", "X-Spam-Status: No")  # fmt: skip
    reply_by_postmark(client, django_capture_on_commit_callbacks, raw)

    reply = outcome(carol)
    assert reply.status == Reply.Status.APPLIED and carol.stage == "searching"
