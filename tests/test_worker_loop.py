"""The loop with real parts: enrol → tick → a real Celery worker process sends."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from subscribers.models import Delivery, OutboxMessage
from subscribers.sending import drip
from tests.conftest import enrol, outbox_to, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_it_sends_the_welcome_through_a_real_worker(course, celery_worker):
    enrol(course, "carol@example.com", first_name="Carol")

    report = drip.tick()

    assert report.planned == 1
    wait_for(lambda: outbox_to("carol@example.com"), what="the welcome in the outbox")
    (welcome,) = outbox_to("carol@example.com")
    assert welcome.subject == "Welcome, Carol"
    delivery = Delivery.objects.get(subscriber__email="carol@example.com")
    wait_for(
        lambda: Delivery.objects.filter(pk=delivery.pk, state="sent").exists(), what="the delivery recorded as sent"
    )
    delivery.refresh_from_db()
    assert delivery.provider_message_id == welcome.message_id
    assert delivery.subscriber.next_send_at > timezone.now() + timedelta(days=6)


def test_it_sends_exactly_once_after_a_worker_dies_between_claim_and_send(course, celery_worker):
    dana = enrol(course, "dana@example.com", first_name="Dana")
    drip.tick(queue=False)
    delivery = Delivery.objects.get(subscriber=dana)
    # A worker claimed it an hour ago and died before sending: the row is stuck in `sending`.
    with time_machine.travel(timezone.now() - timedelta(hours=1), tick=False):
        assert drip.claim(delivery.pk, timezone.now())
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.SENDING

    report = drip.tick()  # recovery queues it again; the real worker re-claims and sends

    assert report.requeued == 1
    wait_for(lambda: Delivery.objects.filter(pk=delivery.pk, state="sent").exists(), what="the recovered send")
    assert len(outbox_to("dana@example.com")) == 1
    assert drip.tick().requeued == 0
    assert OutboxMessage.objects.filter(recipient="dana@example.com").count() == 1
