from __future__ import annotations

import logging
from functools import wraps

from anymail.exceptions import AnymailError
from anymail.webhooks.amazon_ses import AmazonSESInboundWebhookView, AmazonSESTrackingWebhookView
from anymail.webhooks.mailgun import MailgunInboundWebhookView, MailgunTrackingWebhookView
from anymail.webhooks.postmark import PostmarkInboundWebhookView, PostmarkTrackingWebhookView
from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.urls import URLPattern, path

from subscribers import ops_views, outbox_views, preference_views, signup_views, views
from subscribers.esp_payloads import INBOUND_PATHS
from subscribers.tracking import TRACKING_PATHS

admin.site.site_header = "Pivot Path"
admin.site.site_title = "Pivot Path admin"
admin.site.index_title = "Courses, lessons and readers"

logger = logging.getLogger(__name__)

INBOUND_VIEWS = {
    "postmark": PostmarkInboundWebhookView,
    "mailgun": MailgunInboundWebhookView,
    "amazon_ses": AmazonSESInboundWebhookView,
}

TRACKING_VIEWS = {
    "postmark": PostmarkTrackingWebhookView,
    "mailgun": MailgunTrackingWebhookView,
    "amazon_ses": AmazonSESTrackingWebhookView,
}


def answer_malformed(view):
    """A webhook payload the ESP view cannot parse gets a 400 naming the problem, not a 500 (so it is not retried)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except (ValueError, KeyError, TypeError, AttributeError, AnymailError) as exc:
            logger.warning("webhook %s: malformed payload: %s", request.path, exc)
            return HttpResponseBadRequest(f"Malformed webhook payload: {type(exc).__name__}")

    return wrapped


def inbound_webhook(esp: str) -> URLPattern:
    """anymail's own inbound view for one ESP (it verifies, normalises and sends the `inbound` signal)."""
    return path(INBOUND_PATHS[esp].lstrip("/"), answer_malformed(INBOUND_VIEWS[esp].as_view()), name=f"inbound-{esp}")


def tracking_webhook(esp: str) -> URLPattern:
    """anymail's tracking view for one ESP (verifies, normalises, sends the `tracking` signal)."""
    return path(
        TRACKING_PATHS[esp].lstrip("/"), answer_malformed(TRACKING_VIEWS[esp].as_view()), name=f"tracking-{esp}"
    )


urlpatterns = [
    path("", views.home, name="home"),
    path("start/", signup_views.start, name="start"),
    path("checkout/local/<uuid:reference>/", signup_views.local_checkout, name="local-checkout"),
    path("welcome/", signup_views.welcome, name="welcome"),
    path("stripe/webhook/", signup_views.stripe_webhook, name="stripe-webhook"),
    path("admin/", admin.site.urls),
    path("dev/outbox/", outbox_views.outbox, name="outbox"),
    path("dev/outbox/<int:pk>/", outbox_views.outbox_message, name="outbox-message"),
    path("dev/outbox/<int:pk>/reply/", outbox_views.reply_to_message, name="outbox-reply"),
    path("reply/undo/<str:token>/", views.undo_reply, name="undo-reply"),
    path("p/<str:token>/", preference_views.preferences, name="preferences"),
    path("p/<str:token>/unsubscribe/", preference_views.unsubscribe, name="unsubscribe"),
    path("p/<str:token>/lessons/<slug:slug>/", preference_views.archived_lesson, name="archived-lesson"),
    path("ops/", ops_views.dashboard, name="ops"),
    path("ops/readers/", ops_views.readers, name="ops-readers"),
    path("ops/readers/<int:pk>/", ops_views.reader_timeline, name="ops-reader"),
    path("ops/export/readers.csv", ops_views.export_readers, name="ops-export-readers"),
    path("ops/export/deliveries.csv", ops_views.export_deliveries, name="ops-export-deliveries"),
    inbound_webhook(settings.INBOUND_ESP),
    tracking_webhook(settings.INBOUND_ESP),
]
