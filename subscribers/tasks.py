"""Thin Celery tasks: each calls one function of subscribers.drip."""

from __future__ import annotations

import logging
import math

from celery import shared_task
from django.utils import timezone

from subscribers import drip

logger = logging.getLogger(__name__)


@shared_task(name="subscribers.tasks.tick", ignore_result=True)
def tick() -> str:
    return str(drip.tick())


@shared_task(
    name="subscribers.tasks.send_deliveries",
    ignore_result=True,
    acks_late=True,
    reject_on_worker_lost=True,
)
def send_deliveries(delivery_ids: list[int]) -> None:
    """Send a chunk of deliveries (subscribers.drip.send_deliveries). Redelivered after a worker
    dies: the ones already sent are skipped by their claim."""
    report = drip.send_deliveries(delivery_ids)
    for delivery_id, outcome in report.outcomes.items():
        logger.info("delivery %s: %s", delivery_id, outcome)
    # Transient failures: one delayed message per retry time (seconds to minutes, never days);
    # if it is lost, the tick's recover_stale() queues the row again.
    retries: dict[int, list[int]] = {}
    for delivery_id, retry_at in report.retry_at.items():
        countdown = max(1, math.ceil((retry_at - timezone.now()).total_seconds()))
        retries.setdefault(countdown, []).append(delivery_id)
    for countdown, ids in retries.items():
        send_deliveries.apply_async((ids,), countdown=countdown)


@shared_task(name="subscribers.tasks.process_reply", ignore_result=True)
def process_reply(reply_id: int) -> str:
    from subscribers import inbound

    outcome = inbound.process(reply_id)
    logger.info("reply %s: %s", reply_id, outcome)
    return outcome


@shared_task(name="subscribers.tasks.recover_replies", ignore_result=True)
def recover_replies() -> str:
    from subscribers import inbound

    return f"queued {inbound.queue_stale()} replies again"
