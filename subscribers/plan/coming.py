"""The reader's coming emails, as the planner will choose them (DESIGN.md flow 5).

Read by the plan page and the welcome email, the admin, the dashboard's reader page and
`preview_schedule`; it plans nothing and writes nothing.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from django.utils import timezone

from course import planner, preview
from course.schedule import paused_slots
from lessons.catalogue import Catalogue
from subscribers.models import Subscriber
from subscribers.readers.course_time import next_slot_of, reader_state, timing_of


def preview_for(
    subscriber: Subscriber,
    weeks: int = 12,
    stage: str | None = None,
    destination: str | None = None,
    now: datetime | None = None,
) -> list[preview.Slot]:
    """The reader's coming weekly emails as the planner will choose them (flow 5), from their
    next send time; a paused reader is previewed as if they resumed now."""
    now = now or timezone.now()
    catalogue = Catalogue.load()
    history = [
        planner.Sent(lesson_id, catalogue.kind_of(lesson_id), week, month)
        for lesson_id, week, month in subscriber.deliveries.values_list("lesson_id", "course_week", "course_month")
    ]
    reader = reader_state(subscriber)
    if subscriber.paused_at is not None:  # as if resumed now
        clock = reader.clock
        paused = clock.paused_slots + paused_slots(subscriber.paused_at, now, clock.timing)
        reader = replace(reader, clock=replace(clock, paused_slots=paused, paused_at=None))
    start = subscriber.next_send_at
    if start is None or subscriber.status != Subscriber.Status.ACTIVE:
        start = next_slot_of(subscriber, now)
    return preview.preview(
        reader,
        catalogue.rules[subscriber.course_id],
        catalogue.lessons.get(subscriber.course_id, []),
        history,
        start=max(start, now),
        timing=timing_of(subscriber),
        weeks=weeks,
        stage=stage,
        destination=destination,
    )  # fmt: skip
