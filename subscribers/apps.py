from __future__ import annotations

from django.apps import AppConfig


class SubscribersConfig(AppConfig):
    name = "subscribers"

    def ready(self) -> None:
        from anymail.signals import inbound

        from subscribers.inbound import on_inbound

        inbound.connect(on_inbound, dispatch_uid="subscribers.inbound")
