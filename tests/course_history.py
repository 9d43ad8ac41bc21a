"""A course's recent past in bulk, for the operator pages: readers enrolled over six months at
every status, stage and destination, their deliveries (sent, delivered, a few bounced, complained
or failed, as an ESP's tracking webhook and the send path would leave them), replies to
check-ins and audit rows. Deterministic; a few statements however many readers."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from django.utils import timezone

from course.models import Course
from course.schedule import COURSE_MONTH
from course.vocabulary import Destination, Kind, Stage
from lessons.models import Lesson
from subscribers.models import Delivery, Event, Reply, Subscriber

STATUSES = ["active"] * 14 + ["paused", "completed", "unsubscribed", "refunded", "suppressed"]


def course_history(course: Course, readers: int, *, start: int = 0, now: datetime | None = None, seed: int = 8):
    now = now or timezone.now()
    rng = random.Random(seed + start)
    lessons = list(Lesson.objects.filter(course=course).select_related("current_version").order_by("month", "order"))
    stages, destinations = list(Stage), list(Destination)
    people = []
    for i in range(start, start + readers):
        enrolled = now - timedelta(days=rng.uniform(1, 180))
        months = int((now - enrolled) / COURSE_MONTH)
        stage = stages[min(max(months + rng.randint(-1, 1), 0), len(stages) - 1)]
        people.append(
            Subscriber(
                course=course, email=f"reader{i}@example.com", first_name=f"Reader {i}", status=rng.choice(STATUSES),
                stage=stage, destination=rng.choice(destinations), enrolled_at=enrolled, time_zone="America/Chicago",
            )
        )  # fmt: skip
    people = Subscriber.objects.bulk_create(people)
    deliveries = []
    for person in people:
        weeks = min(int((now - person.enrolled_at) / timedelta(weeks=1)) + 1, len(lessons))
        for week, lesson in enumerate(lessons[:weeks]):
            sent = person.enrolled_at + timedelta(weeks=week, minutes=5)
            roll = rng.random()
            outcome = "bounced" if roll < 0.01 else "complained" if roll < 0.012 else "delivered"
            failed = roll > 0.995
            deliveries.append(
                Delivery(
                    subscriber=person, lesson=lesson, version=lesson.current_version, due_at=sent,
                    created_at=sent, state="failed" if failed else "sent", sent_at=None if failed else sent,
                    claimed_at=sent, attempts=3 if failed else 1, course_week=week + 1,
                    course_month=int(week / 4.35) + 1, reason="the first unsent lesson that fits",
                    outcome="" if failed else outcome, outcome_at=None if failed else sent + timedelta(minutes=2),
                    error="SMTPRecipientsRefused: 550 mailbox unavailable" if failed else "",
                )
            )  # fmt: skip
    deliveries = Delivery.objects.bulk_create(deliveries, batch_size=2_000)
    replies, events = [], []
    for delivery in deliveries:
        if delivery.lesson.kind == Kind.CHECKIN and delivery.state == "sent" and rng.random() < 0.6:
            status = rng.choice(["applied"] * 6 + ["review", "ignored", "dismissed"])
            replies.append(
                Reply(
                    subscriber_id=delivery.subscriber_id, delivery=delivery, message_id=f"<r{delivery.pk}@example.com>",
                    sender=f"reader{delivery.subscriber_id}@example.com", subject="Re: check-in", raw="",
                    new_text="I'm a 3 now" if status == "applied" else "maybe?", status=status,
                    reason="no stage, destination or command" if status == "review" else "",
                    received_at=delivery.sent_at + timedelta(hours=rng.randint(1, 72)),
                    understood={"summary": "stage 3, searching"} if status == "applied" else {},
                )
            )  # fmt: skip
    for person in people:
        events.append(Event(subscriber=person, what="enrolled", after={"stage": "deciding"}, at=person.enrolled_at))
        if person.status != "active":
            events.append(Event(subscriber=person, what="status_changed", before="active", after=person.status,
                                why="reader asked", actor="reader", at=now - timedelta(days=1)))  # fmt: skip
    Reply.objects.bulk_create(replies, batch_size=2_000)
    Event.objects.bulk_create(events, batch_size=2_000)
    return people
