"""The Prometheus endpoint: protected like /ops/ (or a bearer token for the scraper), every
figure read from the database at scrape time, webhook answers counted as they leave."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from subscribers.models import Delivery, Reply
from subscribers.ops import health
from subscribers.sending import drip
from tests.conftest import enrol, send_checkin


def scrape(client, **headers) -> dict[tuple[str, tuple], float]:
    response = client.get("/ops/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


@pytest.fixture
def operator(client, db):
    user = User.objects.create_user("operator", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_subscriber"))
    client.force_login(user)
    return client


def test_it_asks_for_a_login_a_token_or_the_operator_permission(client, db, settings):
    settings.METRICS_TOKEN = "scrape-token-123"
    assert client.get("/ops/metrics")["Location"].startswith("/admin/login/?next=/ops/metrics")
    assert client.get("/ops/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert scrape(client, HTTP_AUTHORIZATION="Bearer scrape-token-123") is not None
    client.force_login(User.objects.create_user("clerk", password="pw", is_staff=True))
    assert client.get("/ops/metrics").status_code == 403, "staff without the /ops/ permission"


def test_no_token_set_means_no_bearer_gets_in(client, db, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/ops/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401


def test_it_counts_emails_by_course_and_kind_replies_and_the_tick(operator, checkin_course):
    now = timezone.now()
    carol = enrol(checkin_course, "carol@example.com", first_name="Carol", now=now - timedelta(minutes=20))
    dan = enrol(checkin_course, "dan@example.com", now=now - timedelta(minutes=20))
    welcome_ids = drip.tick(queue=False).delivery_ids
    drip.send_delivery(welcome_ids[0])
    Delivery.objects.filter(pk=welcome_ids[0]).update(outcome="bounced", attempts=3)
    checkin = send_checkin(carol)
    Reply.objects.create(subscriber=carol, delivery=checkin, message_id="<a@x>", raw="x", status="applied")
    Reply.objects.create(subscriber=carol, delivery=checkin, message_id="<b@x>", raw="x", status="review")
    health.tick_done(now, 0.25, 2, now=now)
    assert dan.pk

    samples = scrape(operator)
    welcome = (("course", checkin_course.slug), ("kind", "welcome"))
    assert samples[("pivotpath_emails_planned_total", welcome)] == 2
    assert samples[("pivotpath_emails_sent_total", welcome)] == 1
    assert samples[("pivotpath_emails_bounced_total", welcome)] == 1
    assert samples[("pivotpath_emails_retried_total", welcome)] == 2
    assert samples[("pivotpath_emails_sent_total", (("course", checkin_course.slug), ("kind", "checkin")))] == 1
    assert samples[("pivotpath_replies_total", (("outcome", "applied"),))] == 1
    assert samples[("pivotpath_replies_total", (("outcome", "review"),))] == 1
    assert samples[("pivotpath_tick_duration_seconds", ())] == 0.25
    assert samples[("pivotpath_heartbeat_age_seconds", (("name", "tick"),))] == 0
    assert samples[("pivotpath_due_lag_seconds", ())] == 0


def test_the_due_lag_is_the_longest_wait(operator, course):
    enrol(course, "alice@example.com", now=timezone.now() - timedelta(seconds=90))
    assert scrape(operator)[("pivotpath_due_lag_seconds", ())] == 90


def test_webhook_answers_are_counted_by_endpoint_and_status(operator, client, db, webhook_secret):
    client.post("/stripe/webhook/", b"{}", content_type="application/json")  # unsigned: 400
    client.post("/stripe/webhook/", b"{}", content_type="application/json")
    client.post("/anymail/postmark/tracking/", b"{}", content_type="application/json")  # no auth
    samples = scrape(operator)
    assert samples[("pivotpath_webhook_answers_total", (("endpoint", "stripe"), ("status", "400")))] == 2
    esp = [value for (name, labels), value in samples.items()
           if name == "pivotpath_webhook_answers_total" and ("endpoint", "esp") in labels]  # fmt: skip
    assert sum(esp) == 1


@pytest.mark.parametrize("dsn, client", [("", "False None"), ("https://public@errors.example.invalid/1", "True False")])
def test_error_reports_go_to_sentry_only_when_a_dsn_is_set(dsn, client):
    """No DSN: no Sentry client at all. A DSN: an active client that sends no personal data."""
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    probe = "import sentry_sdk; c = sentry_sdk.get_client(); print(c.is_active(), c.options['send_default_pii'])"
    env = {**os.environ, "DEBUG": "true", "ENV_FILE": "", "SENTRY_DSN": dsn}
    result = subprocess.run([sys.executable, "manage.py", "shell", "-c", probe], cwd=ROOT, env=env,
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == client
