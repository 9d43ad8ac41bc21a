"""Signed reply addresses: `reply+<token>@REPLY_DOMAIN` as the Reply-To of every course email.

The token binds the reader and the check-in delivery it answers: lowercase base32 (no
padding, no ':') of the two ids and a truncated HMAC made with SECRET_KEY, 45 characters.
Case is ignored when reading it back, since some mail servers change the case of addresses.
Addresses made before every email carried one (`checkin+<token>`, check-ins only) still read.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.utils.crypto import constant_time_compare, salted_hmac

# Named after the module's first home, and kept: tokens in emails already sent stay valid.
SALT = "subscribers.reply_address"
PREFIX = "reply+"
MAC_BYTES = 12
IDS = struct.Struct(">QQ")
TOKEN_RE = re.compile(r"(?<![\w.+-])(?:reply|checkin)\+([a-z2-7]{10,56})@", re.IGNORECASE)


@dataclass(frozen=True)
class ReplyTarget:
    subscriber_id: int
    delivery_id: int


def _mac(ids: bytes) -> bytes:
    return salted_hmac(SALT, ids, algorithm="sha256").digest()[:MAC_BYTES]


def reply_token(subscriber_id: int, delivery_id: int) -> str:
    ids = IDS.pack(subscriber_id, delivery_id)
    return base64.b32encode(ids + _mac(ids)).decode("ascii").rstrip("=").lower()


def reply_address(subscriber_id: int, delivery_id: int) -> str:
    return f"{PREFIX}{reply_token(subscriber_id, delivery_id)}@{settings.REPLY_DOMAIN}"


def is_reply_address(address: str) -> bool:
    """Whether an address has the shape of our signed reply address (the token is not checked)."""
    return bool(TOKEN_RE.search(address or ""))


def read_token(token: str) -> ReplyTarget | None:
    """The reader and delivery a token names, or None if it was not made by us (tampered, foreign, garbled)."""
    token = token.strip().upper()
    try:
        raw = base64.b32decode(token + "=" * (-len(token) % 8))
    except (binascii.Error, ValueError):
        return None
    if len(raw) != IDS.size + MAC_BYTES:
        return None
    ids, mac = raw[: IDS.size], raw[IDS.size :]
    if not constant_time_compare(mac, _mac(ids)):
        return None
    subscriber_id, delivery_id = IDS.unpack(ids)
    return ReplyTarget(subscriber_id, delivery_id)


def find_target(addresses: Iterable[str]) -> ReplyTarget | None:
    """The first valid reply token among the message's recipient addresses."""
    for address in addresses:
        for match in TOKEN_RE.finditer(address or ""):
            target = read_token(match.group(1))
            if target is not None:
                return target
    return None


# The mailto of List-Unsubscribe: `unsubscribe+<token>@REPLY_DOMAIN`, the same kind of token
# with delivery 0. Any mail to it unsubscribes the reader it names (RFC 2369).
UNSUBSCRIBE_PREFIX = "unsubscribe+"
UNSUBSCRIBE_RE = re.compile(r"unsubscribe\+([a-z2-7]{10,56})@", re.IGNORECASE)


def unsubscribe_address(subscriber_id: int) -> str:
    return f"{UNSUBSCRIBE_PREFIX}{reply_token(subscriber_id, 0)}@{settings.REPLY_DOMAIN}"


def find_unsubscribe(addresses: Iterable[str]) -> int | None:
    """The reader an `unsubscribe+<token>` recipient address names, if any was made by us."""
    for address in addresses:
        for match in UNSUBSCRIBE_RE.finditer(address or ""):
            target = read_token(match.group(1))
            if target is not None and target.delivery_id == 0:
                return target.subscriber_id
    return None
