"""Knowing it is working: /healthz, /readyz (one line per check, 503 when one fails), the
heartbeats beat, the tick and the workers write, and the dashboard's health panel."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from celery.beat import PersistentScheduler
from django.utils import timezone

from subscribers.models import Delivery, Heartbeat, Subscriber
from subscribers.ops import health
from subscribers.sending import drip
from tests.conftest import enrol, operator, wait_for


def alive(now, *, tick_age: float = 5, beat_age: float = 5, worker_age: float = 5) -> None:
    """Heartbeats as a running beat, tick and worker leave them."""
    health.tick_done(now, 0.2, 0, now=now - timedelta(seconds=tick_age))
    health.scheduler(now - timedelta(seconds=beat_age))
    health.worker("w1@host", now - timedelta(seconds=worker_age))


def readyz(client) -> tuple[int, dict]:
    response = client.get("/readyz")
    assert response["Content-Type"] == "application/json"
    body = response.content.decode()
    lines = body.strip().splitlines()
    assert len(lines) == 2 + len(json.loads(body)["checks"]), "one line per check"
    return response.status_code, json.loads(body)


def test_healthz_answers_without_touching_the_database(client):
    response = client.get("/healthz")  # no `db` fixture: any query would raise
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_503_until_beat_a_tick_and_a_worker_have_been_seen(client, db):
    status, body = readyz(client)
    assert status == 503
    assert body["status"] == "failing"
    assert body["checks"]["database"]["ok"] and body["checks"]["broker"]["ok"]
    assert body["checks"]["tick"] == {"ok": False, "detail": "no tick has run yet"}
    assert not body["checks"]["worker"]["ok"] and not body["checks"]["beat"]["ok"]


def test_readyz_is_200_when_everything_is_fresh(client, db):
    alive(timezone.now())
    status, body = readyz(client)
    assert status == 200, body
    assert list(body["checks"]) == ["database", "broker", "tick", "beat", "worker", "due_lag"]
    assert all(line["ok"] for line in body["checks"].values())
    assert body["checks"]["worker"]["detail"] == "1 alive: w1@host"


def test_readyz_fails_once_the_last_tick_is_older_than_two_ticks(client, db, settings):
    settings.DRIP_TICK_SECONDS = 60
    limit = health.tick_limit()
    assert limit == 130
    alive(timezone.now(), tick_age=limit - 1)
    assert readyz(client)[0] == 200
    alive(timezone.now(), tick_age=limit + 1, beat_age=limit + 1)
    status, body = readyz(client)
    assert status == 503
    assert body["checks"]["tick"]["ok"] is False
    assert "is beat running?" in body["checks"]["tick"]["detail"]
    assert body["checks"]["tick"]["age_seconds"] == limit + 1
    assert body["checks"]["beat"]["ok"] is False and body["checks"]["worker"]["ok"] is True


def test_readyz_fails_when_no_worker_is_alive(client, db):
    alive(timezone.now(), worker_age=health.worker_limit() + 1)
    status, body = readyz(client)
    assert status == 503
    assert body["checks"]["worker"]["detail"].startswith("no worker heartbeat in the last")


def test_readyz_fails_when_a_reader_has_waited_too_long(client, course, settings):
    settings.OPS_DUE_LAG_LIMIT_SECONDS = 600
    now = timezone.now()
    alive(now)
    alice = enrol(course, "alice@example.com", now=now - timedelta(seconds=599))
    assert alice.next_send_at == now - timedelta(seconds=599)
    assert readyz(client)[0] == 200
    Subscriber.objects.filter(pk=alice.pk).update(next_send_at=now - timedelta(seconds=601))
    status, body = readyz(client)
    assert status == 503
    assert body["checks"]["due_lag"]["age_seconds"] == 601
    drip.tick(queue=False)  # planned: no longer waiting
    assert readyz(client)[0] == 200


def test_readyz_reports_a_broker_it_cannot_reach(client, db, settings, tmp_path):
    alive(timezone.now())
    settings.REDIS_URL = ""
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(tmp_path / "missing")}
    status, body = readyz(client)
    assert status == 503
    assert body["checks"]["broker"]["ok"] is False


def test_the_tick_task_writes_its_heartbeat(course):
    from subscribers import tasks

    enrol(course, "alice@example.com")
    tasks.tick.run()
    row = Heartbeat.objects.get(name=health.TICK)
    assert row.at == timezone.now()
    assert row.detail["planned"] == 1 and row.detail["seconds"] >= 0


def test_beat_writes_its_heartbeat_from_its_loop(db, monkeypatch, tmp_path):
    from config.beat import Scheduler
    from config.celery import app

    monkeypatch.setattr(PersistentScheduler, "tick", lambda self, *a, **kw: 300.0)
    scheduler = Scheduler(app=app, schedule_filename=str(tmp_path / "beat"), lazy=True)
    assert scheduler.tick() == health.HEARTBEAT_SECONDS == health.beat_interval(), "it wakes up often enough"
    assert Heartbeat.objects.get(name=health.BEAT).at == timezone.now()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_writes_its_heartbeat(celery_worker):
    wait_for(lambda: Heartbeat.objects.filter(name__startswith=health.WORKER).exists(), what="a worker heartbeat")
    check = health.check_workers(health.heartbeats(), timezone.now())
    assert check.ok, check.detail


def test_the_dashboard_shows_stale_heartbeats_in_red_with_the_queue_and_the_oldest_unsent(client, course, settings):
    client.force_login(operator())
    now = timezone.now()
    alive(now)
    page = client.get("/ops/").content.decode()
    assert "all checks pass" in page
    assert 'class="good" data-check="tick"' in page

    settings.DRIP_TICK_SECONDS = 60
    alive(now, tick_age=600, beat_age=600)
    enrol(course, "alice@example.com", now=now - timedelta(hours=1))
    drip.tick(queue=False, now=now - timedelta(minutes=50))
    assert Delivery.objects.filter(state="pending").count() == 1
    page = client.get("/ops/").content.decode()
    assert "a check fails" in page
    assert 'class="bad" data-check="tick"' in page and 'class="bad" data-check="beat"' in page
    assert 'class="good" data-check="worker"' in page
    assert "last tick 600 s ago" in page
    assert "planned 50\xa0minutes ago" in page
    assert "task message" in page or "depth unknown" in page
