"""The reader's signed links: the pages at them are subscribers.preferences and subscribers.plan.

Two kinds, both under `/p/<token>/`:

- **Unsubscribe** (`List-Unsubscribe`, RFC 8058): never expires, so the mailbox provider's
  one-click button works on any email ever sent. Its token names only the reader.
- **Everything else** (preferences, the plan, the lesson archive): the token names the reader,
  their `link_generation` and when it was issued. It opens for READER_LINK_MAX_AGE_DAYS, and
  no longer once the generation moves on (the admin's "sign out every link", a new email
  address). Whoever holds a forwarded email can still only unsubscribe its reader.

The unsubscribe page also takes the second kind, whatever its age or generation: the footer's
"Unsubscribe" is built on the preferences link and must work as long as the header's does.
A link signed before links expired (the first kind, under the other pages) opens none of them:
its reader sees the expired-link page and asks for a fresh link.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from django.conf import settings
from django.core import signing
from django.utils import timezone

from subscribers.models import Subscriber

# Named after the module's first home, and kept: unsubscribe links in emails already sent stay valid.
SALT = "subscribers.preferences"
EXPIRING_SALT = "subscribers.readers.links.expiring"
ADDRESS_SALT = "subscribers.readers.links.new-address"
# A link to confirm a new email address works this long.
ADDRESS_LINK_MAX_AGE = timedelta(days=2)


class Link(enum.StrEnum):
    OPEN = "open"
    EXPIRED = "expired"  # older than READER_LINK_MAX_AGE_DAYS, or signed before links expired
    REVOKED = "revoked"  # the reader's links were signed out since it was issued
    INVALID = "invalid"  # not ours: changed, cut short, or its reader is gone


@dataclass(frozen=True)
class Opened:
    """What a token in a reader's link turned out to be; `subscriber` is known unless INVALID."""

    state: Link
    subscriber: Subscriber | None = None

    @property
    def is_open(self) -> bool:
        return self.state == Link.OPEN


def max_age() -> timedelta:
    return timedelta(days=settings.READER_LINK_MAX_AGE_DAYS)


# --- Making links ----------------------------------------------------------------------------


def unsubscribe_token(subscriber: Subscriber) -> str:
    return _token(subscriber.pk, settings.SECRET_KEY)


@lru_cache(maxsize=4096)
def _token(pk: int, secret_key: str) -> str:
    """Signing is deterministic, so a send of many emails signs each reader once."""
    return signing.dumps(pk, key=secret_key, salt=SALT, compress=True)


def preferences_token(subscriber: Subscriber, now: datetime | None = None) -> str:
    """The expiring token, issued at `now` (the send), to the reader's current link generation."""
    issued = int((now or timezone.now()).timestamp())
    return _expiring_token(subscriber.pk, subscriber.link_generation, issued, settings.SECRET_KEY)


@lru_cache(maxsize=4096)
def _expiring_token(pk: int, generation: int, issued: int, secret_key: str) -> str:
    return signing.dumps([pk, generation, issued], key=secret_key, salt=EXPIRING_SALT, compress=True)


def link_url(token: str) -> str:
    return f"{settings.SITE_URL}/p/{token}/"


def preferences_url(subscriber: Subscriber, now: datetime | None = None) -> str:
    return link_url(preferences_token(subscriber, now))


def plan_url(subscriber: Subscriber, now: datetime | None = None) -> str:
    """The reader's "Your plan" page (subscribers.plan), beside their preferences."""
    return f"{preferences_url(subscriber, now)}plan/"


def unsubscribe_url(subscriber: Subscriber) -> str:
    """The one-click unsubscribe address (List-Unsubscribe, RFC 8058): it never expires."""
    return f"{link_url(unsubscribe_token(subscriber))}unsubscribe/"


def new_address_url(subscriber: Subscriber, email: str, now: datetime | None = None) -> str:
    """The link mailed to a new address: opening it (and pressing its button) makes it the reader's."""
    issued = int((now or timezone.now()).timestamp())
    token = signing.dumps([subscriber.pk, subscriber.link_generation, email, issued], salt=ADDRESS_SALT, compress=True)
    return f"{settings.SITE_URL}/address/{token}/"


# --- Opening links ---------------------------------------------------------------------------


def open_link(token: str, now: datetime | None = None) -> Opened:
    """The reader a preferences, plan or archive link names, if it is still open (module docstring)."""
    now = now or timezone.now()
    try:
        pk, generation, issued = _expiring_payload(token)
    except signing.BadSignature:
        legacy = _legacy_reader(token)
        return Opened(Link.EXPIRED, legacy) if legacy else Opened(Link.INVALID)
    subscriber = Subscriber.objects.filter(pk=pk).first()
    if subscriber is None:
        return Opened(Link.INVALID)
    if generation != subscriber.link_generation:
        return Opened(Link.REVOKED, subscriber)
    if now - datetime.fromtimestamp(issued, tz=UTC) > max_age():
        return Opened(Link.EXPIRED, subscriber)
    return Opened(Link.OPEN, subscriber)


def subscriber_to_unsubscribe(token: str) -> Subscriber | None:
    """The reader an unsubscribe link names: either kind of token, of any age or generation."""
    try:
        pk, _generation, _issued = _expiring_payload(token)
    except signing.BadSignature:
        return _legacy_reader(token)
    return Subscriber.objects.filter(pk=pk).first()


def open_new_address(token: str, now: datetime | None = None) -> tuple[Opened, str]:
    """The reader and the new address a confirmation link names; REVOKED once used (or the links
    were signed out), EXPIRED after ADDRESS_LINK_MAX_AGE."""
    now = now or timezone.now()
    try:
        pk, generation, email, issued = signing.loads(token, salt=ADDRESS_SALT)
        if not (isinstance(pk, int) and isinstance(generation, int) and isinstance(email, str)):
            raise signing.BadSignature("unexpected payload")
        issued_at = datetime.fromtimestamp(int(issued), tz=UTC)
    except (signing.BadSignature, ValueError, TypeError, OverflowError):
        return Opened(Link.INVALID), ""
    subscriber = Subscriber.objects.filter(pk=pk).first()
    if subscriber is None:
        return Opened(Link.INVALID), ""
    if generation != subscriber.link_generation:
        return Opened(Link.REVOKED, subscriber), email
    if now - issued_at > ADDRESS_LINK_MAX_AGE:
        return Opened(Link.EXPIRED, subscriber), email
    return Opened(Link.OPEN, subscriber), email


def _expiring_payload(token: str) -> tuple[int, int, int]:
    try:
        pk, generation, issued = signing.loads(token, salt=EXPIRING_SALT)
        if not all(isinstance(value, int) for value in (pk, generation, issued)):
            raise ValueError
        datetime.fromtimestamp(issued, tz=UTC)  # a time at all
    except (ValueError, TypeError, OverflowError, OSError):
        raise signing.BadSignature("unexpected payload") from None
    return pk, generation, issued


def _legacy_reader(token: str) -> Subscriber | None:
    try:
        pk = signing.loads(token, salt=SALT)
    except signing.BadSignature:
        return None
    return Subscriber.objects.filter(pk=pk).first() if isinstance(pk, int) else None
