"""Audit rows: every state change records what, before, after, why and who, in its transaction."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from subscribers.models import Event, Subscriber


def record(
    subscriber: Subscriber | None,
    what: str,
    *,
    before: Any = None,
    after: Any = None,
    why: str = "",
    actor: str = "system",
    at=None,
) -> Event:
    return Event.objects.create(
        subscriber=subscriber,
        what=what,
        before=before,
        after=after,
        why=why[:300],
        actor=actor[:100],
        at=at or timezone.now(),
    )
