"""Audit rows: every state change records what, before, after, why and who, in its transaction.

What happened is a value of `Event.What` (the audit vocabulary); anything else is refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.utils import timezone

from subscribers.models import Event, Subscriber

What = Event.What


def record(
    subscriber: Subscriber | None,
    what: What,
    *,
    before: Any = None,
    after: Any = None,
    why: str = "",
    actor: str = "system",
    at=None,
) -> Event:
    return Event.objects.create(
        subscriber=subscriber,
        what=What(what),
        before=before,
        after=after,
        why=why[:300],
        actor=actor[:100],
        at=at or timezone.now(),
    )


def record_many(
    subscriber_ids: Iterable[int], what: What, *, before: Any, after: Any, why: str, actor: str, at: datetime
) -> None:
    """The same audit row for many readers, in one INSERT (the tick's and Stripe's bulk changes)."""
    Event.objects.bulk_create(
        Event(subscriber_id=pk, what=What(what), before=before, after=after, why=why[:300], actor=actor[:100], at=at)
        for pk in subscriber_ids
    )
