"""Thin Celery tasks: each calls one function of subscribers.drip."""

from __future__ import annotations

import logging

from celery import shared_task

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
    """Send a chunk of deliveries. Redelivered after a worker dies: the ones already sent are
    skipped by their claim."""
    for delivery_id in delivery_ids:
        logger.info("delivery %s: %s", delivery_id, drip.send_delivery(delivery_id))


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
