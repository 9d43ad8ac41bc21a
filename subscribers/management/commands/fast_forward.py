from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from subscribers.models import Subscriber
from subscribers.readers.changes import ChangeRefused, fast_forward


class Command(BaseCommand):
    help = (
        "Development only: move a reader N weeks further into the course and make their next email due "
        "now, so the next tick (within a minute under `make run`) sends what they would get then, e.g. "
        "`fast_forward you@example.com --weeks 4` brings the first check-in. Refused unless DEBUG or "
        "OUTBOX_PAGE_ENABLED is on."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("email", help="The reader's email address.")
        parser.add_argument("--weeks", type=int, required=True, help="How many weeks of course time to skip (1-60).")
        parser.add_argument("--course", metavar="SLUG", help="Needed only when the reader is in several courses.")

    def handle(self, *args, email: str, weeks: int, course: str | None, **options) -> None:
        if not (settings.DEBUG or settings.OUTBOX_PAGE_ENABLED):
            raise CommandError("fast_forward is for development machines (DEBUG or OUTBOX_PAGE_ENABLED)")
        if not 1 <= weeks <= 60:
            raise CommandError("--weeks must be between 1 and 60")
        readers = Subscriber.objects.filter(email=email.strip().lower())
        if course:
            readers = readers.filter(course__slug=course)
        if readers.count() != 1:
            raise CommandError(f"no single reader {email!r}" + ("" if course else " (add --course?)"))
        reader = readers.get()
        try:
            fast_forward(reader, weeks, actor="command", why=f"fast_forward --weeks {weeks}")
        except ChangeRefused as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{reader.email} is now {weeks} week(s) further into the course; the next email is due now")
