"""The Celery app. The beat schedule is static and lives here, in code."""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("pivotpath")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def static_beat_schedule(sender: Celery, **kwargs) -> None:
    """The beat schedule, fixed in code (read once Django's settings are loaded)."""
    from django.conf import settings

    sender.conf.beat_schedule = {
        # Due-ness lives in the database (Subscriber.next_send_at); every tick finds what is due.
        "drip-tick-every-minute": {
            "task": "subscribers.tasks.tick",
            "schedule": settings.DRIP_TICK_SECONDS,
            "options": {"expires": settings.DRIP_TICK_SECONDS * 0.9},
        },
        # The dashboard's daily rollup: pending rows added into their days (subscribers.ops.rollup).
        "rollup-fold-every-tick": {
            "task": "subscribers.tasks.fold_daily_figures",
            "schedule": settings.DRIP_TICK_SECONDS,
            "options": {"expires": settings.DRIP_TICK_SECONDS * 0.9},
        },
        # A reply whose processing task was lost (broker down) is still `received` in the database.
        "inbound-recover-every-5-minutes": {
            "task": "subscribers.tasks.recover_replies",
            "schedule": 300.0,
            "options": {"expires": 290},
        },
    }


@worker_ready.connect
def start_worker_heartbeat(sender, **kwargs) -> None:
    """Each worker writes its heartbeat from a daemon thread (subscribers.ops.health.WorkerHeartbeat)."""
    import threading

    from subscribers.ops import health

    beat = health.WorkerHeartbeat(sender.hostname)
    threading.Thread(target=beat.run, name="worker-heartbeat", daemon=True).start()
