"""System checks for settings that are wrong but not fatal (`manage.py check`, `check --deploy`).

What must never run (a missing, published or repeated-character SECRET_KEY, an unknown ESP, an
ESP without webhook credentials, Stripe half set up, the local checkout or the outbox page in
production, SITE_URL unset in production) stops start-up in config/settings.py instead. The checks about a
production machine (DEBUG off) are deployment checks, so a development or CI shell running
commands with DEBUG off is not told about them every time; the ESP ones run on every check.

pivotpath.W001  SENDER_POSTAL_ADDRESS empty with DEBUG off (deploy)
pivotpath.W002  ANYMAIL_ESP set but its API key (or Mailgun's sender domain) empty
pivotpath.W003  (retired: an ESP without ANYMAIL_WEBHOOK_SECRET now stops start-up)
pivotpath.W004  SITE_URL set to this machine with DEBUG off (deploy; left unset it stops start-up)
pivotpath.W005  REPLY_DOMAIN still a .localhost domain with ANYMAIL_ESP set
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import CheckMessage, Warning, register

TAG = "pivotpath"
# The anymail settings each ESP's sending backend needs (Amazon SES takes the AWS environment).
ESP_KEYS = {
    "postmark": ["POSTMARK_SERVER_TOKEN"],
    "mailgun": ["MAILGUN_API_KEY", "MAILGUN_SENDER_DOMAIN"],
    "amazon_ses": [],
}
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}


def _is_local(host: str) -> bool:
    host = host.lower().rstrip(".")
    return host in LOCAL_HOSTS or host.endswith(".localhost")


@register(TAG, deploy=True)
def check_postal_address(app_configs, **kwargs) -> list[CheckMessage]:
    if settings.DEBUG or settings.SENDER_POSTAL_ADDRESS.strip():
        return []
    return [
        Warning(
            "SENDER_POSTAL_ADDRESS is empty: course emails go out without the sender's postal address in the footer.",
            hint="Set SENDER_POSTAL_ADDRESS to a postal address readers can write to; CAN-SPAM and the "
            "bulk-sender rules of Gmail and Yahoo ask for one.",
            id="pivotpath.W001",
        )
    ]


@register(TAG)
def check_esp_keys(app_configs, **kwargs) -> list[CheckMessage]:
    esp = settings.ANYMAIL_ESP
    if not esp or not settings.EMAIL_BACKEND.startswith("anymail."):
        return []
    missing = [name for name in ESP_KEYS.get(esp, []) if not settings.ANYMAIL.get(name)]
    if not missing:
        return []
    return [
        Warning(
            f"ANYMAIL_ESP is {esp} but {' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} empty: "
            f"sending through {esp} will fail.",
            hint=f"Set {' and '.join(missing)} from your {esp} account (Mailgun's sender domain is the one "
            "verified there, e.g. mg.course.example.com); see .env.example.",
            id="pivotpath.W002",
        )
    ]


@register(TAG, deploy=True)
def check_site_url(app_configs, **kwargs) -> list[CheckMessage]:
    if settings.DEBUG or not _is_local(urlsplit(settings.SITE_URL).hostname or ""):
        return []
    return [
        Warning(
            f"SITE_URL is {settings.SITE_URL}, this machine: the undo, preferences and unsubscribe links "
            "in every email lead readers nowhere.",
            hint="Set SITE_URL to the site's public address, e.g. https://course.example.com (no trailing slash).",
            id="pivotpath.W004",
        )
    ]


@register(TAG)
def check_reply_domain(app_configs, **kwargs) -> list[CheckMessage]:
    if not settings.ANYMAIL_ESP or not _is_local(settings.REPLY_DOMAIN):
        return []
    return [
        Warning(
            f"REPLY_DOMAIN is {settings.REPLY_DOMAIN}, which no mail server accepts: readers' replies to "
            "check-ins bounce and never reach the inbound webhook.",
            hint="Set REPLY_DOMAIN to a domain whose inbound mail your ESP routes to the inbound webhook, "
            "e.g. reply.course.example.com.",
            id="pivotpath.W005",
        )
    ]
