from __future__ import annotations

from django.core.management.base import BaseCommand

from subscribers.sending import drip


class Command(BaseCommand):
    help = (
        "Run one drip tick now, as Celery beat does every minute: plan an email for every active "
        "reader who is due, queue the sends for the worker, and queue again any delivery whose "
        "worker or task message was lost. Prints what it did. With --send, sends the planned "
        "emails here in this process instead (no worker needed)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--send", action="store_true", help="Send the planned emails in this process instead of queueing them."
        )

    def handle(self, *args, send: bool, **options) -> None:
        report = drip.tick(queue=not send)
        self.stdout.write(str(report))
        if send:
            for delivery_id in report.delivery_ids:
                self.stdout.write(f"delivery {delivery_id}: {drip.send_delivery(delivery_id)}")
