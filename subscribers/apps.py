from __future__ import annotations

from django.apps import AppConfig


class SubscribersConfig(AppConfig):
    name = "subscribers"

    def ready(self) -> None:
        from anymail.signals import inbound, tracking

        from subscribers.replies.inbound import on_inbound
        from subscribers.sending.tracking import on_tracking

        inbound.connect(on_inbound, dispatch_uid="subscribers.replies.inbound")
        tracking.connect(on_tracking, dispatch_uid="subscribers.sending.tracking")
