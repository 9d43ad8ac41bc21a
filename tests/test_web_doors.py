"""The web doors: the admin login locks out after repeated wrong passwords (django-axes), and every
page carries a Content-Security-Policy (django-csp), strictest on the lesson archive."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from subscribers.readers.links import preferences_url
from tests.test_preferences import path_of, welcome_for


def log_in(client: Client, password: str, username: str = "ada", ip: str = "203.0.113.7"):
    return client.post(
        "/admin/login/?next=/admin/", {"username": username, "password": password}, REMOTE_ADDR=ip
    )  # fmt: skip


@pytest.fixture
def ada(db):
    return User.objects.create_superuser("ada", "ada@example.com", "the-right-long-password")


def test_the_right_password_logs_in(ada):
    client = Client()
    response = log_in(client, "the-right-long-password")
    assert response.status_code == 302 and response["Location"] == "/admin/"


def test_after_five_wrong_passwords_even_the_right_one_is_refused(ada, settings):
    client = Client()
    for attempt in range(4):
        assert log_in(client, f"guess-{attempt}").status_code == 200  # the form again, with its error
    assert log_in(client, "guess-4").status_code == 429
    for attempt in range(95):  # a hundred in all: every one after the fifth refused unread
        assert log_in(client, f"guess-{attempt + 5}").status_code == 429

    locked = log_in(client, "the-right-long-password")
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session
    # Another address is not locked out by this one's guesses.
    assert log_in(Client(), "the-right-long-password", ip="198.51.100.9").status_code == 302


def test_the_lockout_ends_after_the_cool_off(ada):
    client = Client()
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        for attempt in range(5):
            log_in(client, f"guess-{attempt}")
        assert log_in(client, "the-right-long-password").status_code == 429
        traveller.shift(timedelta(minutes=61))  # AXES_COOLOFF_TIME, one hour from the last attempt
        assert log_in(client, "the-right-long-password").status_code == 302


def test_a_forged_forwarded_for_does_not_reset_the_count(ada):
    client = Client()
    for attempt in range(5):
        client.post(
            "/admin/login/", {"username": "ada", "password": f"g{attempt}"}, HTTP_X_FORWARDED_FOR=f"10.0.0.{attempt}"
        )
    assert log_in(client, "the-right-long-password", ip="127.0.0.1").status_code == 429


# --- Content-Security-Policy -------------------------------------------------------------------


def directives(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: " ".join(part.split()[1:]) for part in header.split(";") if part.strip()}


@pytest.mark.parametrize("url", ["/", "/start/", "/admin/login/", "/p/not-a-token/"])
def test_every_page_has_a_policy_that_runs_only_our_scripts(course, settings, url):
    settings.SIGNUP_COURSE = "test-course"
    policy = directives(Client().get(url))
    assert policy["default-src"] == "'self'"
    assert policy["script-src"].split()[0] == "'self'"
    assert "'unsafe-inline'" not in policy["script-src"]
    assert policy["frame-ancestors"] == "'none'" and policy["object-src"] == "'none'"


def test_the_intake_script_carries_the_requests_nonce(course, settings):
    settings.SIGNUP_COURSE = "test-course"
    response = Client().get("/start/")
    nonce = re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"])[1]
    assert f'<script nonce="{nonce}">' in response.content.decode()


def test_the_lesson_archive_allows_nothing_to_run_load_or_post(alice):
    welcome_for(alice)
    response = Client().get(f"{path_of(preferences_url(alice))}lessons/welcome/")
    assert response.status_code == 200
    policy = directives(response)
    assert policy["default-src"] == "'none'"
    assert "script-src" not in policy  # default-src 'none' covers scripts
    assert policy["form-action"] == "'none'" and policy["base-uri"] == "'none'"
    assert policy["style-src"] == "'unsafe-inline'"
