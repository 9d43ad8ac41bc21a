from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from course.models import Course
from course.vocabulary import Destination, Stage
from subscribers.readers.enrolment import EnrolmentError, Intake, enroll


class Command(BaseCommand):
    help = (
        "Enrol a reader without payment (comps and support). The welcome email goes out on the next "
        "tick (within a minute when beat is running); lessons follow weekly on today's weekday at the "
        "reader's send hour in their time zone."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("email", help="The reader's email address.")
        parser.add_argument(
            "--course", required=True, metavar="SLUG", help="Course slug, e.g. clinical-to-non-clinical."
        )
        parser.add_argument("--first-name", default="", help="Used in greetings.")
        parser.add_argument("--stage", default=Stage.DECIDING, help=f"One of: {', '.join(Stage.values)}.")
        parser.add_argument(
            "--destination", default=Destination.UNDECIDED, help=f"One of: {', '.join(Destination.values)}."
        )
        parser.add_argument("--tz", default="UTC", help="IANA time zone, e.g. America/New_York (default UTC).")
        parser.add_argument(
            "--hour",
            type=int,
            default=settings.DEFAULT_SEND_HOUR,
            help=f"Local hour 0-23 for weekly emails (default DEFAULT_SEND_HOUR, now {settings.DEFAULT_SEND_HOUR}).",
        )

    def handle(self, *args, **options) -> None:
        course = Course.objects.filter(slug=options["course"]).first()
        if course is None:
            known = ", ".join(Course.objects.values_list("slug", flat=True)) or "none: run import_lessons first"
            raise CommandError(f"no course {options['course']!r} (known: {known})")
        intake = Intake(
            email=options["email"],
            first_name=options["first_name"],
            stage=options["stage"],
            destination=options["destination"],
            time_zone=options["tz"],
            send_hour=options["hour"],
        )
        try:
            subscriber = enroll(course, intake, actor="command", why="enrolled with manage.py enroll")
        except EnrolmentError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"enrolled {subscriber.email} in {course.slug} (stage {subscriber.stage}, "
            f"destination {subscriber.destination}); the welcome goes out on the next tick"
        )
