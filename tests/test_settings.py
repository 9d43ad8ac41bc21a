"""Start-up refuses unsafe production settings; the system checks (config.checks) warn about
the rest; the deploy check is clean when configured."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.core.checks import run_checks
from django.core.management import call_command

from subscribers.models import Subscriber
from subscribers.readers.enrolment import Intake
from tests.conftest import ROOT

PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "a-private-production-key-0123456789-abcdefghijklmnopqrstuvwxyz",
    "SITE_URL": "https://course.example.com",
    "ALLOWED_HOSTS": "course.example.com",
    "SENDER_POSTAL_ADDRESS": "Pivot Path, 100 Main Street, Suite 5, Portland, OR 97205, USA",
}
WITH_POSTMARK = {
    "ANYMAIL_ESP": "postmark",
    "POSTMARK_SERVER_TOKEN": "postmark-server-token",
    "ANYMAIL_WEBHOOK_SECRET": "esp:webhook-password",
    "REPLY_DOMAIN": "reply.course.example.com",
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    dropped = ("SECRET_KEY", "DEBUG", "SECURE_SSL_REDIRECT", "SITE_URL")
    base = {k: v for k, v in os.environ.items() if k not in dropped}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**base, **env}, capture_output=True, text=True
    )


def test_start_up_without_a_secret_key_stops_with_one_clear_line():
    result = manage("check", DEBUG="false")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Pivot Path: SECRET_KEY must be set to a private value of 50+ characters when DEBUG is off (see .env.example)."
    ]


def test_start_up_with_the_development_key_and_debug_off_stops():
    result = manage("check", DEBUG="false", SECRET_KEY="dev-only-insecure-key-never-use-in-production")
    assert result.returncode == 1
    assert "SECRET_KEY must be set" in result.stderr


def test_the_deploy_check_is_clean_in_production():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_debug_runs_without_any_setting():
    assert manage("check", DEBUG="true").returncode == 0


def test_start_up_refuses_a_stripe_key_without_its_webhook_secret_and_price():
    result = manage("check", **PRODUCTION, STRIPE_SECRET_KEY="sk_live_x", STRIPE_WEBHOOK_SECRET="", STRIPE_PRICE_ID="")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Pivot Path: STRIPE_SECRET_KEY needs STRIPE_WEBHOOK_SECRET and STRIPE_PRICE_ID too (see .env.example)."
    ]


def test_start_up_refuses_the_local_checkout_in_production():
    result = manage("check", **PRODUCTION, LOCAL_CHECKOUT="true")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Pivot Path: LOCAL_CHECKOUT enrols readers without payment; it is refused with DEBUG off."
    ]


def test_the_deploy_check_is_clean_in_production_with_an_esp():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION, **WITH_POSTMARK)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_the_checks_run_at_start_up_and_warn_without_stopping_it():
    result = manage(
        "check", **PRODUCTION, ANYMAIL_ESP="postmark", POSTMARK_SERVER_TOKEN="token", ANYMAIL_WEBHOOK_SECRET="a:b"
    )
    assert result.returncode == 0
    assert "(pivotpath.W005) REPLY_DOMAIN is reply.pivotpath.localhost" in result.stderr
    assert "pivotpath.W002" not in result.stderr


def refusal(**env: str) -> list[str]:
    result = manage("check", **env)
    assert result.returncode == 1, result.stdout + result.stderr
    return result.stderr.strip().splitlines()


@pytest.mark.parametrize("esp", ["postmark", "mailgun", "amazon_ses"])
def test_start_up_refuses_an_esp_without_a_webhook_secret(esp):
    assert refusal(**{**PRODUCTION, **WITH_POSTMARK, "ANYMAIL_ESP": esp, "ANYMAIL_WEBHOOK_SECRET": ""}) == [
        f"Pivot Path: ANYMAIL_ESP={esp} needs ANYMAIL_WEBHOOK_SECRET, or anyone can post forged bounces and "
        "replies to its webhooks (see .env.example)."
    ]
    # Development machines too: an ESP's webhooks are public wherever they run.
    assert "needs ANYMAIL_WEBHOOK_SECRET" in refusal(DEBUG="true", ANYMAIL_ESP=esp)[0]


def test_start_up_refuses_mailgun_without_its_webhook_signing_key():
    mailgun = {**WITH_POSTMARK, "ANYMAIL_ESP": "mailgun", "MAILGUN_API_KEY": "key", "MAILGUN_SENDER_DOMAIN": "mg.x.com"}
    assert refusal(**PRODUCTION, **mailgun) == [
        "Pivot Path: ANYMAIL_ESP=mailgun needs MAILGUN_WEBHOOK_SIGNING_KEY to verify its webhooks (see .env.example)."
    ]
    signed = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        **PRODUCTION,
        **mailgun,
        MAILGUN_WEBHOOK_SIGNING_KEY="signing-key",
    )
    assert signed.returncode == 0, signed.stderr


def test_start_up_refuses_the_outbox_page_with_debug_off():
    assert refusal(**PRODUCTION, OUTBOX_PAGE_ENABLED="true") == [
        "Pivot Path: OUTBOX_PAGE_ENABLED shows every email sent, with readers' links; it is refused with DEBUG off."
    ]
    assert manage("check", DEBUG="true", OUTBOX_PAGE_ENABLED="true").returncode == 0


@pytest.mark.parametrize(
    "key",
    [
        "x" + "dev-only-insecure-key-never-use-in-production" + "0123456789",
        "dev-only-insecure-key-never-use-in-production" * 2,
        "k" * 64,
        "ab" * 40,
    ],
)
def test_start_up_refuses_a_secret_key_around_the_development_key_or_of_one_character(key):
    assert refusal(**{**PRODUCTION, "SECRET_KEY": key}) == [
        "Pivot Path: SECRET_KEY contains the published development key or is a few characters repeated; "
        "set a random one (see .env.example)."
    ]


def test_start_up_refuses_debug_off_with_the_default_site_url():
    production = {k: v for k, v in PRODUCTION.items() if k != "SITE_URL"}
    assert refusal(**production) == [
        "Pivot Path: SITE_URL must be set to the site's public address when DEBUG is off (see .env.example)."
    ]
    assert manage("check", DEBUG="true").returncode == 0


@pytest.mark.parametrize("hour", ["24", "-1", "seven", ""])
def test_start_up_refuses_a_default_send_hour_that_is_not_an_hour(hour):
    result = manage("check", DEBUG="true", DEFAULT_SEND_HOUR=hour)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"Pivot Path: DEFAULT_SEND_HOUR must be a whole hour from 0 to 23 (got {hour!r})."
    ]


# --- System checks (config.checks), in process ---------------------------------------------


@pytest.fixture
def production(settings):
    """Settings a configured production machine has: no pivotpath check fires."""
    settings.DEBUG = False
    settings.SITE_URL = "https://course.example.com"
    settings.SENDER_POSTAL_ADDRESS = PRODUCTION["SENDER_POSTAL_ADDRESS"]
    settings.ANYMAIL_ESP = "postmark"
    settings.EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    settings.REPLY_DOMAIN = "reply.course.example.com"
    settings.ANYMAIL = {
        **settings.ANYMAIL,
        "POSTMARK_SERVER_TOKEN": "postmark-server-token",
        "MAILGUN_API_KEY": "",
        "MAILGUN_SENDER_DOMAIN": "",
        "WEBHOOK_SECRET": ["esp:webhook-password"],
    }
    return settings


def pivotpath_checks():
    messages = run_checks(tags=["pivotpath"], include_deployment_checks=True)
    assert all(message.hint for message in messages)
    return {message.id: message.msg for message in messages}


def test_a_configured_production_machine_has_no_warnings(production):
    assert pivotpath_checks() == {}


def test_w001_an_empty_postal_address_with_debug_off(production):
    production.SENDER_POSTAL_ADDRESS = " "
    assert list(pivotpath_checks()) == ["pivotpath.W001"]
    production.DEBUG = True
    assert pivotpath_checks() == {}


def test_w002_the_esp_chosen_without_its_keys(production):
    production.ANYMAIL = {**production.ANYMAIL, "POSTMARK_SERVER_TOKEN": ""}
    assert pivotpath_checks() == {
        "pivotpath.W002": "ANYMAIL_ESP is postmark but POSTMARK_SERVER_TOKEN is empty: "
        "sending through postmark will fail."
    }

    production.ANYMAIL_ESP, production.EMAIL_BACKEND = "mailgun", "anymail.backends.mailgun.EmailBackend"
    assert "MAILGUN_API_KEY and MAILGUN_SENDER_DOMAIN are empty" in pivotpath_checks()["pivotpath.W002"]
    production.ANYMAIL = {**production.ANYMAIL, "MAILGUN_API_KEY": "key", "MAILGUN_SENDER_DOMAIN": "mg.example.com"}
    assert pivotpath_checks() == {}


def test_w002_is_quiet_for_ses_and_for_another_email_backend(production):
    production.ANYMAIL = {**production.ANYMAIL, "POSTMARK_SERVER_TOKEN": ""}
    production.EMAIL_BACKEND = "subscribers.sending.smtp.EmailBackend"
    assert pivotpath_checks() == {}
    production.ANYMAIL_ESP, production.EMAIL_BACKEND = "amazon_ses", "anymail.backends.amazon_ses.EmailBackend"
    assert pivotpath_checks() == {}


def test_w004_the_default_site_url_with_debug_off(production):
    production.SITE_URL = "http://127.0.0.1:8000"
    assert pivotpath_checks() == {
        "pivotpath.W004": "SITE_URL is http://127.0.0.1:8000, this machine: the undo, preferences and "
        "unsubscribe links in every email lead readers nowhere."
    }
    production.SITE_URL = "http://pivotpath.localhost"
    assert list(pivotpath_checks()) == ["pivotpath.W004"]
    production.DEBUG = True
    assert pivotpath_checks() == {}


def test_w005_the_default_reply_domain_with_an_esp(production):
    production.REPLY_DOMAIN = "reply.pivotpath.localhost"
    assert list(pivotpath_checks()) == ["pivotpath.W005"]
    production.ANYMAIL_ESP = ""
    assert pivotpath_checks() == {}


def test_the_deployment_checks_wait_for_check_deploy(production):
    production.SENDER_POSTAL_ADDRESS, production.SITE_URL = "", "http://127.0.0.1:8000"
    assert run_checks(tags=["pivotpath"]) == []
    assert len(run_checks(tags=["pivotpath"], include_deployment_checks=True)) == 2


# --- DEFAULT_SEND_HOUR ------------------------------------------------------------------------


def test_enrolments_that_name_no_hour_get_the_default_send_hour(course, settings):
    settings.DEFAULT_SEND_HOUR = 6
    assert Intake(email="x@example.com").send_hour == 6
    assert Intake(email="x@example.com", send_hour=20).send_hour == 20

    call_command("enroll", "erin@example.com", "--course", "test-course")
    assert Subscriber.objects.get(email="erin@example.com").send_hour == 6
