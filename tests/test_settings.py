"""Start-up refuses unsafe production settings; the deploy check is clean when configured."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT

PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "a-private-production-key-0123456789-abcdefghijklmnopqrstuvwxyz",
    "SITE_URL": "https://course.example.com",
    "ALLOWED_HOSTS": "course.example.com",
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG", "SECURE_SSL_REDIRECT")}
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
