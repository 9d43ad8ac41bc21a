"""Enrolment: a reader joins a course (after payment, or by hand for comps and support)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError
from django.utils import timezone

from course.models import Course
from course.schedule import is_time_zone
from course.vocabulary import Destination, LicensePlan, PayNeed, Profession, Stage
from subscribers.models import Subscriber
from subscribers.readers import changes


class EnrolmentError(ValueError):
    """Input that cannot enrol anyone; the message says why in one line."""


class AlreadyEnrolled(EnrolmentError):
    def __init__(self, subscriber: Subscriber) -> None:
        super().__init__(f"{subscriber.email} is already enrolled in {subscriber.course.slug} ({subscriber.status})")
        self.subscriber = subscriber


@dataclass(frozen=True)
class Intake:
    email: str
    first_name: str = ""
    specialty: str = ""
    stage: str = Stage.DECIDING
    destination: str = Destination.UNDECIDED
    profession: str = ""
    license_plan: str = LicensePlan.UNSURE
    pay_need: str = PayNeed.UNSURE
    time_zone: str = "UTC"
    send_hour: int = field(default_factory=lambda: settings.DEFAULT_SEND_HOUR)

    def problems(self, destinations: list[str] | None = None) -> list[str]:
        """What is wrong with the intake; `destinations` are the course's tracks (built-in by default)."""
        destinations = destinations or list(Destination.values)
        problems = []
        if "@" not in self.email or any(c in self.email for c in " \r\n<>,;"):
            problems.append(f"not an email address: {self.email!r}")
        if any(c in self.first_name for c in "\r\n"):
            problems.append("first name must be one line")
        if self.stage not in Stage.values:
            problems.append(f"unknown stage {self.stage!r} (one of {', '.join(Stage.values)})")
        if self.profession and self.profession not in Profession.values:
            problems.append(f"unknown profession {self.profession!r} (one of {', '.join(Profession.values)})")
        if self.license_plan not in LicensePlan.values:
            problems.append(f"unknown license plan {self.license_plan!r} (one of {', '.join(LicensePlan.values)})")
        if self.pay_need not in PayNeed.values:
            problems.append(f"unknown pay need {self.pay_need!r} (one of {', '.join(PayNeed.values)})")
        if self.destination not in destinations:
            problems.append(f"unknown destination {self.destination!r} (one of {', '.join(destinations)})")
        if not is_time_zone(self.time_zone):
            problems.append(f"unknown time zone {self.time_zone!r} (e.g. America/New_York)")
        if not 0 <= self.send_hour <= 23:
            problems.append(f"send hour must be 0-23 (got {self.send_hour})")
        return problems


def enroll(course: Course, intake: Intake, *, actor: str, why: str, now: datetime | None = None) -> Subscriber:
    """Enrol a reader: the welcome goes out on the next tick, lessons follow weekly on the
    enrolment weekday at their preferred local hour."""
    problems = intake.problems(course.words.destination_values)
    if problems:
        raise EnrolmentError("; ".join(problems))
    now = now or timezone.now()
    email = intake.email.strip().lower()
    try:
        subscriber = changes.enrol(
            course,
            email=email,
            first_name=intake.first_name.strip(),
            specialty=intake.specialty.strip(),
            stage=intake.stage,
            destination=intake.destination,
            profession=intake.profession,
            license_plan=intake.license_plan,
            pay_need=intake.pay_need,
            time_zone=intake.time_zone,
            send_hour=intake.send_hour,
            actor=actor,
            why=why,
            now=now,
        )
    except IntegrityError:
        existing = Subscriber.objects.select_related("course").filter(course=course, email=email).first()
        if existing is None:
            raise
        raise AlreadyEnrolled(existing) from None
    return subscriber
