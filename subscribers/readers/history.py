"""The reader as they were at a moment, from the audit trail: their answers then, not now.

The lesson archive shows each email as it was sent. The version is kept on the delivery; the
reader's answers (stage, track, profile) are put back to what they were when it went out by
undoing, newest first, every audited change made after that moment.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from datetime import datetime

from subscribers.models import Event, Subscriber
from subscribers.readers.changes import TRACK_CHANGES

FIELD_OF = {what: field for field, what in TRACK_CHANGES.items()}


def changes_since(subscriber: Subscriber, since: datetime | None) -> list[Event]:
    """The reader's audited answer changes after `since` (all of them when None), newest first."""
    events = subscriber.events.filter(what__in=list(FIELD_OF))
    if since is not None:
        events = events.filter(at__gt=since)
    return list(events.order_by("-at", "-pk").only("what", "before", "at"))


def as_of(subscriber: Subscriber, moment: datetime, changes: Iterable[Event]) -> Subscriber:
    """A copy of the reader with every change in `changes` (newest first) made after `moment` undone."""
    then = copy.copy(subscriber)
    for event in changes:
        if event.at <= moment:
            break
        if isinstance(event.before, str):
            setattr(then, FIELD_OF[event.what], event.before)
    return then
