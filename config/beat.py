"""Celery beat's scheduler with a heartbeat (CELERY_BEAT_SCHEDULER): beat writes one from its
own loop, so /readyz and the dashboard can tell a stopped beat from a quiet one."""

from __future__ import annotations

import logging
import time

from celery.beat import PersistentScheduler

logger = logging.getLogger(__name__)


class Scheduler(PersistentScheduler):
    """Celery's default scheduler, waking at least every `health.beat_interval()` to write `beat`."""

    _last_heartbeat = 0.0

    def tick(self, *args, **kwargs) -> float:
        from subscribers.ops import health

        delay = super().tick(*args, **kwargs)
        every = health.beat_interval()
        if time.monotonic() - self._last_heartbeat >= every:
            try:
                health.scheduler()
                self._last_heartbeat = time.monotonic()
            except Exception as exc:  # the database is away: beat keeps scheduling, the heartbeat goes stale
                logger.warning("beat heartbeat not written: %s", exc)
            finally:
                from django.db import connection

                if not connection.in_atomic_block:  # beat sleeps up to a minute: no idle connection kept
                    connection.close()
        return min(delay, every)
