"""The reader's signed preferences link (the page at it: subscribers.preferences.page)."""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings
from django.core import signing

from subscribers.models import Subscriber

# Named after the module's first home, and kept: tokens in emails already sent stay valid.
SALT = "subscribers.preferences"


def preferences_token(subscriber: Subscriber) -> str:
    return _token(subscriber.pk, settings.SECRET_KEY)


@lru_cache(maxsize=4096)
def _token(pk: int, secret_key: str) -> str:
    """Signing is deterministic, so a send of many emails signs each reader once."""
    return signing.dumps(pk, key=secret_key, salt=SALT, compress=True)


def subscriber_for_token(token: str) -> Subscriber | None:
    try:
        pk = signing.loads(token, salt=SALT)
    except signing.BadSignature:
        return None
    return Subscriber.objects.filter(pk=pk).first()


def preferences_url(subscriber: Subscriber) -> str:
    return f"{settings.SITE_URL}/p/{preferences_token(subscriber)}/"


def plan_url(subscriber: Subscriber) -> str:
    """The reader's "Your plan" page (subscribers.plan), beside their preferences."""
    return f"{preferences_url(subscriber)}plan/"


def unsubscribe_url(subscriber: Subscriber) -> str:
    """The one-click unsubscribe address (List-Unsubscribe, RFC 8058) and the footer's link."""
    return f"{preferences_url(subscriber)}unsubscribe/"
