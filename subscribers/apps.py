from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class SubscribersConfig(AppConfig):
    name = "subscribers"

    def ready(self) -> None:
        from anymail.signals import inbound, tracking

        from subscribers.replies.inbound import on_inbound
        from subscribers.sending.tracking import on_tracking

        inbound.connect(on_inbound, dispatch_uid="subscribers.replies.inbound")
        tracking.connect(on_tracking, dispatch_uid="subscribers.sending.tracking")
        post_migrate.connect(rollup_after_migrate, sender=self, dispatch_uid="subscribers.ops.rollup")


def rollup_after_migrate(sender, using: str = "default", **kwargs) -> None:
    """The dashboard's rollup triggers survive every migration (SQLite drops them when it rebuilds a table)."""
    from subscribers.ops import rollup

    rollup.after_migrate(using)
