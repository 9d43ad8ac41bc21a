"""The sending rate per ESP: a token bucket kept in the database, shared by every worker.

Each ESP has a row (`SendAllowance`) holding its tokens. Taking `n` sends locks the row,
refills it by the time passed times the rate (up to the burst), and takes the `n` tokens. There
may not be enough: the tokens go below zero — a reservation — and the caller waits the time
the rate needs to earn them back. Reservations queue in lock order, so however many workers
send at once, the sends leave no faster than the rate after the first burst.

Why the database and not Redis: it is the one store every deployment has (the embedded
broker on a fresh machine has no Redis), it already decides who sends what, and the bucket
costs one locked row per chunk of up to 100 sends — a few hundred statements a minute at the
rates ESPs allow.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from subscribers.models import SendAllowance


@dataclass(frozen=True)
class Rate:
    per_second: float  # 0: no limit
    burst: float


def rate_for(esp: str) -> Rate:
    per_second = settings.SEND_RATE_PER_SECOND
    if per_second is None:
        per_second = settings.ESP_SEND_RATES.get(esp, 0)
    burst = settings.SEND_BURST or per_second * 2
    return Rate(float(per_second), float(max(burst, 1)))


def take(esp: str, count: int, now: datetime | None = None) -> float:
    """Take `count` sends from the ESP's bucket; returns the seconds to wait before sending them."""
    rate = rate_for(esp)
    if rate.per_second <= 0 or count <= 0:
        return 0.0
    now = now or timezone.now()
    with transaction.atomic():
        allowance, _created = SendAllowance.objects.select_for_update().get_or_create(
            esp=esp, defaults={"tokens": rate.burst, "updated_at": now}
        )
        elapsed = max((now - allowance.updated_at).total_seconds(), 0.0)
        tokens = min(rate.burst, allowance.tokens + elapsed * rate.per_second) - count
        SendAllowance.objects.filter(esp=esp).update(tokens=tokens, updated_at=max(now, allowance.updated_at))
    return max(-tokens / rate.per_second, 0.0)


def wait_for(esp: str, count: int) -> float:
    """Take `count` sends and sleep until the rate allows them; returns the seconds slept."""
    seconds = take(esp, count)
    if seconds > 0:
        time.sleep(seconds)
    return seconds
