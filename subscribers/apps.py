from __future__ import annotations

from django.apps import AppConfig


class SubscribersConfig(AppConfig):
    name = "subscribers"

    def ready(self) -> None:
        from anymail.signals import inbound, tracking

        from subscribers.inbound import on_inbound
        from subscribers.tracking import on_tracking

        inbound.connect(on_inbound, dispatch_uid="subscribers.inbound")
        tracking.connect(on_tracking, dispatch_uid="subscribers.tracking")
