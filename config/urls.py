from __future__ import annotations

from anymail.webhooks.amazon_ses import AmazonSESInboundWebhookView
from anymail.webhooks.mailgun import MailgunInboundWebhookView
from anymail.webhooks.postmark import PostmarkInboundWebhookView
from django.conf import settings
from django.contrib import admin
from django.urls import URLPattern, path

from subscribers import outbox_views, views
from subscribers.esp_payloads import INBOUND_PATHS

INBOUND_VIEWS = {
    "postmark": PostmarkInboundWebhookView,
    "mailgun": MailgunInboundWebhookView,
    "amazon_ses": AmazonSESInboundWebhookView,
}


def inbound_webhook(esp: str) -> URLPattern:
    """anymail's own inbound view for one ESP (it verifies, normalises and sends the `inbound` signal)."""
    return path(INBOUND_PATHS[esp].lstrip("/"), INBOUND_VIEWS[esp].as_view(), name=f"inbound-{esp}")


urlpatterns = [
    path("", views.home, name="home"),
    path("admin/", admin.site.urls),
    path("dev/outbox/", outbox_views.outbox, name="outbox"),
    path("dev/outbox/<int:pk>/", outbox_views.outbox_message, name="outbox-message"),
    path("dev/outbox/<int:pk>/reply/", outbox_views.reply_to_message, name="outbox-reply"),
    path("reply/undo/<str:token>/", views.undo_reply, name="undo-reply"),
    inbound_webhook(settings.INBOUND_ESP),
]
