from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from course.schedule import zone
from course.vocabulary import Stage
from subscribers.models import Subscriber
from subscribers.plan.coming import preview_for


class Command(BaseCommand):
    help = (
        "Show a reader's coming weekly emails as the planner will choose them: local date and time, "
        "kind, lesson and why. --stage and --destination ask what would change if the reader were "
        "somewhere else (nothing is saved)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("email", help="The reader's email address.")
        parser.add_argument("--course", metavar="SLUG", help="Needed only when the reader is in several courses.")
        parser.add_argument("--weeks", type=int, default=12, help="How many weekly slots to show (default 12).")
        parser.add_argument("--stage", choices=Stage.values, help="What if the reader were at this stage.")
        parser.add_argument(
            "--destination", metavar="SLUG", help="What if they chose this track (one of the course's)."
        )

    def handle(self, *args, email: str, course: str | None, weeks: int, stage, destination, **options) -> None:
        if not 1 <= weeks <= 104:
            raise CommandError("--weeks must be between 1 and 104")
        readers = Subscriber.objects.select_related("course").filter(email=email.strip().lower())
        if course:
            readers = readers.filter(course__slug=course)
        readers = list(readers)
        if not readers:
            raise CommandError(f"no reader {email!r}" + (f" in {course}" if course else ""))
        if len(readers) > 1:
            raise CommandError(
                f"{email} is in several courses; add --course ({', '.join(r.course.slug for r in readers)})"
            )
        reader = readers[0]
        tracks = reader.course.words.destination_values  # the course's own
        if destination and destination not in tracks:
            raise CommandError(
                f"unknown destination {destination!r} for {reader.course.slug} (one of {', '.join(tracks)})"
            )
        what_if = ", ".join(f"{k} {v}" for k, v in (("stage", stage), ("destination", destination)) if v)
        self.stdout.write(
            f"{reader.email} · {reader.course.slug} · {reader.status} · stage {reader.stage} · "
            f"{reader.destination} · {reader.time_zone}, {reader.send_hour}:00"
            + (f"\nwhat if: {what_if}" if what_if else "")
            + ("\npaused: shown as if resumed now; nothing is sent while paused" if reader.paused_at else "")
        )
        rows = [("local time", "wk", "mo", "kind", "lesson", "why")]
        for slot in preview_for(reader, weeks=weeks, stage=stage, destination=destination):
            local = slot.at.astimezone(zone(reader.time_zone))
            lesson = slot.lesson
            rows.append(
                (f"{local:%a %Y-%m-%d %H:%M}", str(slot.week), str(slot.month),
                 lesson.kind if lesson else "-", lesson.slug if lesson else "(no email)", slot.reason)
            )  # fmt: skip
        widths = [max(len(row[i]) for row in rows) for i in range(5)]
        for row in rows:
            self.stdout.write(
                "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[5]
            )
