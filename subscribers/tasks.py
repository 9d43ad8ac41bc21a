"""Thin Celery tasks: each calls one function of subscribers.sending.drip."""

from __future__ import annotations

import logging
import math
import time

from celery import shared_task
from django.utils import timezone

from subscribers.sending import drip

logger = logging.getLogger(__name__)


@shared_task(name="subscribers.tasks.tick", ignore_result=True)
def tick() -> str:
    """One tick, then its heartbeat (subscribers.ops.health): when it ran and how long it took."""
    from subscribers.ops import health

    started, clock = timezone.now(), time.monotonic()
    report = drip.tick(now=started)
    health.tick_done(started, time.monotonic() - clock, report.planned)
    return str(report)


@shared_task(name="subscribers.tasks.fold_daily_figures", ignore_result=True)
def fold_daily_figures() -> str:
    """Fold the dashboard's pending rollup rows into their days (subscribers.ops.rollup.fold)."""
    from subscribers.ops import rollup

    return f"folded {rollup.fold()} rows"


@shared_task(
    name="subscribers.tasks.send_deliveries",
    ignore_result=True,
    acks_late=True,
    reject_on_worker_lost=True,
)
def send_deliveries(delivery_ids: list[int]) -> None:
    """Send a chunk of deliveries (subscribers.sending.drip.send_deliveries). Redelivered after a worker
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
    from subscribers.replies import inbound

    outcome = inbound.process(reply_id)
    logger.info("reply %s: %s", reply_id, outcome)
    return outcome


class TransientSendError(Exception):
    """A send failure that may pass if tried again (subscribers.sending.drip.is_transient): retried with backoff."""


# A task that sends one email to a reader: run once even if the worker dies, retried with backoff
# on a transient ESP error.
ONE_EMAIL = dict(
    ignore_result=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(TransientSendError,),
    max_retries=5,
    retry_backoff=30,
    retry_backoff_max=600,
    retry_jitter=True,
)


@shared_task(bind=True, name="subscribers.tasks.send_reply_confirmation", **ONE_EMAIL)
def send_reply_confirmation(self, reply_id: int) -> str:
    """Send one reply's confirmation (subscribers.replies.inbound.send_confirmation), queued after the reply
    is applied. A transient ESP failure is retried 5 times, waiting a random part of 30 s, 1, 2, 4
    and 8 min; a permanent one, or the last retry, is logged and dropped (the change stands; the
    reader has their preferences page)."""
    from subscribers.replies import inbound

    try:
        outcome = inbound.send_confirmation(reply_id)
    except Exception as exc:
        if not drip.is_transient(exc):
            logger.exception("reply %s: confirmation not sent, permanent error (not retried): %s", reply_id, exc)
            return "failed"
        if self.request.retries >= self.max_retries:
            logger.error(
                "reply %s: confirmation not sent, giving up after %s attempts: %s",
                reply_id, self.request.retries + 1, exc,
            )  # fmt: skip
            return "gave up"
        logger.warning("reply %s: confirmation not sent, will retry: %s", reply_id, exc)
        raise TransientSendError(f"{type(exc).__name__}: {exc}") from exc
    logger.info("reply %s: confirmation %s", reply_id, outcome)
    return outcome


@shared_task(bind=True, name="subscribers.tasks.send_thread_message", **ONE_EMAIL)
def send_thread_message(self, message_id: int) -> str:
    """Send one acknowledgement or inbox answer (subscribers.replies.conversations.send_message), retried
    like a confirmation; a permanent failure, or the last retry, marks it failed on the thread."""
    from subscribers.replies import conversations

    try:
        outcome = conversations.send_message(message_id)
    except Exception as exc:
        if not drip.is_transient(exc) or self.request.retries >= self.max_retries:
            logger.exception("thread message %s: not sent, giving up: %s", message_id, exc)
            conversations.mark_failed(message_id)
            return "failed"
        logger.warning("thread message %s: not sent, will retry: %s", message_id, exc)
        raise TransientSendError(f"{type(exc).__name__}: {exc}") from exc
    logger.info("thread message %s: %s", message_id, outcome)
    return outcome


@shared_task(name="subscribers.tasks.recover_replies", ignore_result=True)
def recover_replies() -> str:
    from subscribers.replies import conversations, inbound

    return f"queued {inbound.queue_stale()} replies and {conversations.queue_stale()} thread emails again"
