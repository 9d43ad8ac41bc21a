"""Sends noted in the journal as the ESP answers, recorded once per chunk: a worker that dies
in between sends nothing twice; a message built ahead reaches a real SMTP server intact."""

from __future__ import annotations

import email
import email.policy
import socket
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from subscribers.models import Delivery, OutboxMessage, Subscriber
from subscribers.sending import drip, journal
from tests.conftest import enrol, outbox_to


class WorkerKilled(BaseException):
    """Stands for `kill -9` after the ESP answered: nothing after it runs but the kernel closing
    the worker's files (which releases its journal lock)."""


def killed(*args, **kwargs):
    raise WorkerKilled


@pytest.fixture
def readers(course):
    return [enrol(course, f"reader{i}@example.com", first_name=f"Reader{i}") for i in range(3)]


def journals(folder) -> list:
    return sorted(folder.rglob("*.journal"))


def test_sends_a_dead_worker_noted_are_recorded_by_the_next_tick_and_never_sent_again(
    readers, monkeypatch, send_journals
):
    ids = drip.tick(queue=False).delivery_ids
    with monkeypatch.context() as patch:
        patch.setattr(drip, "_record_sent", killed)
        with pytest.raises(WorkerKilled):
            drip.send_deliveries(ids)
    assert OutboxMessage.objects.count() == 3, "the ESP accepted all three"
    assert set(Delivery.objects.values_list("state", flat=True)) == {"sending"}, "the database never heard"
    assert len(journals(send_journals)) == 1

    with time_machine.travel(timezone.now() + timedelta(minutes=11), tick=False):
        report = drip.tick()

    assert report.requeued == 0, "nothing queued again: the journal said all three were sent"
    assert set(Delivery.objects.values_list("state", flat=True)) == {"sent"}
    assert all(len(outbox_to(reader.email)) == 1 for reader in readers)
    for delivery in Delivery.objects.all():
        assert delivery.provider_message_id == outbox_to(delivery.subscriber.email)[0].message_id
    assert journals(send_journals) == [], "the dead worker's journal is deleted once recorded"


def test_a_stale_claim_records_what_the_journal_holds_instead_of_sending_again(readers, monkeypatch):
    ids = drip.tick(queue=False).delivery_ids
    with monkeypatch.context() as patch:
        patch.setattr(drip, "_record_sent", killed)
        with pytest.raises(WorkerKilled):
            drip.send_deliveries(ids)

    later = timezone.now() + timedelta(minutes=11)  # the broker hands the task to another worker
    report = drip.send_deliveries(ids, now=later)

    assert all(outcome.startswith("skipped") for outcome in report.outcomes.values())
    assert OutboxMessage.objects.count() == 3
    assert set(Delivery.objects.values_list("state", flat=True)) == {"sent"}


def test_a_running_workers_journal_is_read_but_kept_until_its_chunk_ends(readers, send_journals):
    (first, *_) = drip.tick(queue=False).delivery_ids
    now = timezone.now()
    assert drip.claim(first, now)

    with journal.Journal() as log:
        log.sent(first, "esp-id-1", now)
        assert drip.replay_journals(now) == 1
        assert journals(send_journals) == [log.path], "its owner is alive: the file stays"
        log.done()

    delivery = Delivery.objects.get(pk=first)
    assert (delivery.state, delivery.provider_message_id) == ("sent", "esp-id-1")
    assert journals(send_journals) == []
    assert drip.replay_journals(now) == 0


def test_a_torn_last_line_is_ignored(readers, send_journals):
    (first, second, _) = drip.tick(queue=False).delivery_ids
    now = timezone.now()
    drip.claim_many([first, second], now)
    with journal.Journal() as log:
        log.sent(first, "esp-id-1", now)
        with open(log.path, "ab") as file:
            file.write(f"{second}\t{now.timestamp()}\tesp-id".encode())  # no newline: cut short

    assert drip.replay_journals(now) == 1
    assert Delivery.objects.get(pk=first).state == "sent"
    assert Delivery.objects.get(pk=second).state == "sending", "not known to be sent: resent by rule"


def test_a_message_that_cannot_be_built_fails_its_delivery_and_the_rest_go_out(readers):
    ids = drip.tick(queue=False).delivery_ids
    # An address edited straight into the database with a line break: Django refuses to build a
    # header from it (header injection), so this one message cannot be made.
    Subscriber.objects.filter(email="reader1@example.com").update(email="reader1@example.com\nBcc: x@example.org")
    report = drip.send_deliveries(ids)

    broken = Delivery.objects.get(subscriber__email__startswith="reader1@")
    assert broken.state == "failed" and "BadHeaderError" in broken.error
    assert report.outcomes[broken.pk].startswith("failed (permanent)")
    assert Delivery.objects.filter(state="sent").count() == 2
    assert not OutboxMessage.objects.filter(recipient__startswith="reader1@").exists()


def test_the_smtp_backend_puts_the_prepared_message_on_the_wire_intact(readers, settings):
    from aiosmtpd.controller import Controller

    received = []

    class Handler:
        async def handle_DATA(self, server, session, envelope) -> str:
            received.append(envelope)
            return "250 OK"

    with socket.socket() as probe:  # a free port (the controller cannot take port 0)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings.EMAIL_BACKEND = "subscribers.sending.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
        report = drip.send_deliveries(drip.tick(queue=False).delivery_ids)
    finally:
        controller.stop()

    assert set(report.outcomes.values()) == {"sent"}
    assert sorted(envelope.rcpt_tos[0] for envelope in received) == [r.email for r in readers]
    for envelope in received:
        message = email.message_from_bytes(envelope.content, policy=email.policy.SMTP)
        assert envelope.mail_from == "course@pivotpath.localhost"
        assert message["To"] == envelope.rcpt_tos[0]
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        first_name = "Reader" + envelope.rcpt_tos[0].removeprefix("reader")[0]
        assert first_name in message.get_body(("plain",)).get_content()
        assert first_name in message.get_body(("html",)).get_content()
        delivery = Delivery.objects.get(subscriber__email=envelope.rcpt_tos[0])
        assert message["Message-ID"] == delivery.message_id == delivery.provider_message_id
