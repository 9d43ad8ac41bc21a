"""Is it working? Heartbeats of beat, the tick and the workers, and the checks /readyz and the
dashboard read (flow 10).

A stopped beat sends nothing and says nothing: no tick means no email. So each process that must
keep running writes a Heartbeat row now and then (`beat()` from the scheduler's loop, `tick_done()`
after every tick, `worker()` from each worker every HEARTBEAT_SECONDS) and the checks compare the
rows' ages with the tick interval: a tick older than two intervals (plus a grace) fails.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from celery import current_app
from django.conf import settings
from django.db import connection
from django.db.models import Min
from django.utils import timezone

from subscribers.models import Delivery, Heartbeat, Subscriber

logger = logging.getLogger(__name__)

# How often a worker writes its heartbeat; beat writes as often, or twice a tick when ticks are
# shorter (the drills), on its loop's wake-ups.
HEARTBEAT_SECONDS = 15.0
# Added to the tick's age limit: a tick that takes a few seconds, clocks a little apart (a quarter
# of a tick when ticks are shorter than 40 s).
GRACE_SECONDS = 10.0
BEAT, TICK, WORKER = "beat", "tick", "worker:"
UNSENT = (Delivery.State.PENDING, Delivery.State.SENDING)


def beat_at(name: str, now: datetime | None = None, **detail) -> None:
    """Write one heartbeat (one UPDATE, an INSERT the first time)."""
    now = now or timezone.now()
    if not Heartbeat.objects.filter(name=name).update(at=now, detail=detail):
        Heartbeat.objects.get_or_create(name=name, defaults={"at": now, "detail": detail})


def tick_done(started: datetime, seconds: float, planned: int, now: datetime | None = None) -> None:
    """The tick's heartbeat: when it finished, how long it took, what it planned and the due lag it met."""
    beat_at(TICK, now, started=started.isoformat(), seconds=round(seconds, 3), planned=planned)


def worker(hostname: str, now: datetime | None = None) -> None:
    beat_at(WORKER + hostname, now)


def scheduler(now: datetime | None = None) -> None:
    beat_at(BEAT, now)


def beat_interval() -> float:
    """How often beat writes its heartbeat: every HEARTBEAT_SECONDS, or twice a tick if that is sooner."""
    return min(HEARTBEAT_SECONDS, settings.DRIP_TICK_SECONDS / 2)


def tick_limit() -> float:
    """Seconds after which the last tick (or beat's heartbeat) is too old: two tick intervals and
    the grace. With the one-minute tick: 130 s."""
    return 2 * settings.DRIP_TICK_SECONDS + min(GRACE_SECONDS, settings.DRIP_TICK_SECONDS / 4)


def worker_limit() -> float:
    return 2 * HEARTBEAT_SECONDS + GRACE_SECONDS


def due_lag_limit() -> float:
    return settings.OPS_DUE_LAG_LIMIT_SECONDS


@dataclass
class Check:
    """One line of /readyz and of the dashboard's health panel."""

    name: str
    ok: bool
    detail: str
    age: float | None = None  # seconds, for heartbeats and lags

    def as_json(self) -> dict:
        line = {"ok": self.ok, "detail": self.detail}
        if self.age is not None:
            line["age_seconds"] = round(self.age, 1)
        return line


def check_database() -> Check:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return Check("database", True, connection.vendor)


def check_broker() -> Check:
    """The broker answers (Redis: a PING within 2 s; the embedded broker: its folder is there)."""
    if not settings.REDIS_URL:
        folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
        return Check("broker", folder.is_dir(), f"filesystem {folder}")
    with current_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
        conn.default_channel.client.ping()
    return Check("broker", True, "redis")


def queue_depth() -> int | None:
    """Task messages waiting in the default queue (None when the broker cannot say)."""
    try:
        if not settings.REDIS_URL:
            folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
            return sum(1 for _ in folder.glob("*.msg"))
        with current_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            return int(conn.default_channel.client.llen(current_app.conf.task_default_queue))
    except Exception as exc:  # a figure for the dashboard, not a check: the broker check says why
        logger.warning("queue depth unknown: %s", exc)
        return None


def heartbeats() -> dict[str, Heartbeat]:
    return {row.name: row for row in Heartbeat.objects.all()}


def check_tick(rows: dict[str, Heartbeat], now: datetime) -> Check:
    row = rows.get(TICK)
    if row is None:
        return Check("tick", False, "no tick has run yet")
    age = (now - row.at).total_seconds()
    ok = age <= tick_limit()
    took = row.detail.get("seconds")
    detail = f"last tick {age:.0f} s ago (limit {tick_limit():.0f} s), took {took} s"
    return Check("tick", ok, detail if ok else f"{detail}: is beat running?", age)


def check_beat(rows: dict[str, Heartbeat], now: datetime) -> Check:
    row = rows.get(BEAT)
    if row is None:
        return Check("beat", False, "beat has never written a heartbeat")
    age = (now - row.at).total_seconds()
    limit = tick_limit()
    return Check("beat", age <= limit, f"heartbeat {age:.0f} s ago (limit {limit:.0f} s)", age)


def check_workers(rows: dict[str, Heartbeat], now: datetime) -> Check:
    workers = {name[len(WORKER) :]: (now - row.at).total_seconds() for name, row in rows.items()
               if name.startswith(WORKER)}  # fmt: skip
    limit = worker_limit()
    alive = sorted(name for name, age in workers.items() if age <= limit)
    if not workers:
        return Check("worker", False, "no worker has written a heartbeat")
    youngest = min(workers.values())
    if not alive:
        return Check("worker", False, f"no worker heartbeat in the last {limit:.0f} s", youngest)
    return Check("worker", True, f"{len(alive)} alive: {', '.join(alive)}", youngest)


def oldest_due(now: datetime) -> datetime | None:
    """When the reader who has waited longest for their email became due (subscriber_due_idx)."""
    return Subscriber.objects.filter(status=Subscriber.Status.ACTIVE, next_send_at__lte=now).aggregate(
        oldest=Min("next_send_at")
    )["oldest"]


def oldest_unsent(now: datetime) -> datetime | None:
    """When the oldest planned email that has not gone out yet was planned (delivery_unsent_idx)."""
    return Delivery.objects.filter(state__in=UNSENT).aggregate(oldest=Min("created_at"))["oldest"]


def check_due_lag(now: datetime) -> Check:
    oldest = oldest_due(now)
    if oldest is None:
        return Check("due_lag", True, "no reader is waiting", 0.0)
    lag = (now - oldest).total_seconds()
    limit = due_lag_limit()
    return Check("due_lag", lag <= limit, f"the oldest due reader has waited {lag:.0f} s (limit {limit:.0f} s)", lag)


def _guarded(name: str, check: Callable[[], Check]) -> Check:
    """A check that raises is a failed check with the reason, not a 500."""
    try:
        return check()
    except Exception as exc:
        return Check(name, False, f"{type(exc).__name__}: {exc}"[:300])


def readiness(now: datetime | None = None, database: Check | None = None) -> list[Check]:
    """Every check of /readyz, in order; the database first (the others read it). A page that has
    already read the database passes its own `database` line."""
    now = now or timezone.now()
    database = database or _guarded("database", check_database)
    checks = [database, _guarded("broker", check_broker)]
    if not database.ok:
        return checks + [Check(name, False, "database unavailable") for name in ("tick", "beat", "worker", "due_lag")]
    rows: dict[str, Heartbeat] = {}
    try:
        rows = heartbeats()
    except Exception as exc:
        logger.warning("heartbeats unreadable: %s", exc)
    checks += [
        _guarded("tick", lambda: check_tick(rows, now)),
        _guarded("beat", lambda: check_beat(rows, now)),
        _guarded("worker", lambda: check_workers(rows, now)),
        _guarded("due_lag", lambda: check_due_lag(now)),
    ]
    return checks


@dataclass
class Operations:
    """The dashboard's health panel: the checks, the queue and the oldest unsent email."""

    checks: list[Check]
    queue_depth: int | None
    oldest_unsent: datetime | None
    now: datetime

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def unsent_age(self) -> timedelta | None:
        return self.now - self.oldest_unsent if self.oldest_unsent else None


def operations(now: datetime | None = None) -> Operations:
    now = now or timezone.now()
    checks = readiness(now, database=Check("database", True, connection.vendor))
    return Operations(checks, queue_depth(), _guarded_value(lambda: oldest_unsent(now)), now)


def _guarded_value(read: Callable[[], datetime | None]) -> datetime | None:
    try:
        return read()
    except Exception as exc:
        logger.warning("ops figure unreadable: %s", exc)
        return None


class WorkerHeartbeat:
    """A daemon thread in a Celery worker that writes its heartbeat every HEARTBEAT_SECONDS
    (started by config.celery on `worker_ready`). It runs beside the pool, so a worker busy on a
    long chunk still says it is alive; a stopped or wedged process stops writing."""

    def __init__(self, hostname: str, every: float = HEARTBEAT_SECONDS) -> None:
        self.hostname, self.every = hostname, every

    def run(self) -> None:
        while True:
            try:
                worker(self.hostname)
            except Exception as exc:  # the database is away: the heartbeat goes stale, which is the point
                logger.warning("worker heartbeat not written: %s", exc)
            finally:
                connection.close()  # this thread's own connection; a restarted database is found again
            time.sleep(self.every)
