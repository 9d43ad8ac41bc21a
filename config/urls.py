from __future__ import annotations

import io
import logging
from collections.abc import Callable
from functools import wraps

from anymail.exceptions import AnymailError, AnymailWebhookValidationFailure
from anymail.webhooks.amazon_ses import (
    AmazonSESInboundWebhookView,
    AmazonSESTrackingWebhookView,
    AnymailBotoClientAPIError,
)
from anymail.webhooks.mailgun import MailgunInboundWebhookView, MailgunTrackingWebhookView
from anymail.webhooks.postmark import PostmarkInboundWebhookView, PostmarkTrackingWebhookView
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.urls import URLPattern, path
from django.views import View

from config import pages
from subscribers.ops import metrics
from subscribers.ops import views as ops_views
from subscribers.plan import views as plan_views
from subscribers.preferences import views as preference_views
from subscribers.replies import views as reply_views
from subscribers.sending import outbox_views
from subscribers.sending.esp_payloads import INBOUND_PATHS
from subscribers.sending.tracking import TRACKING_PATHS
from subscribers.signup import views as signup_views

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


# What anymail raises while it reads an ESP's payload it cannot make sense of: bad JSON, a field
# the ESP's format requires missing or of the wrong type, an address it cannot parse.
PARSE_ERRORS = (ValueError, KeyError, TypeError, AttributeError, AnymailError)
# Not the sender's fault even so: a failed signature or basic auth is anymail's own 400 (Django's
# SuspiciousOperation), and an error from the ESP's API while anymail fetches the message (SES's S3
# download) is worth a retry.
NOT_MALFORMED = (AnymailWebhookValidationFailure, AnymailBotoClientAPIError)


class MalformedPayload(Exception):
    """anymail's validators or parser could not read the payload (the cause is chained)."""


class AnswerMalformed:
    """Mixed into anymail's webhook views. Only what anymail raises while validating and parsing
    is turned into a 400 (not retried); anything raised while the signal runs our receivers
    (subscribers.replies.inbound, subscribers.sending.tracking) is our bug or outage: a 500 with its traceback
    logged, so the ESP retries."""

    def run_validators(self, request: HttpRequest) -> None:
        try:
            super().run_validators(request)
        except NOT_MALFORMED:
            raise
        except PARSE_ERRORS as exc:
            raise MalformedPayload from exc

    def parse_events(self, request: HttpRequest) -> list:
        try:
            return list(super().parse_events(request))
        except NOT_MALFORMED:
            raise
        except PARSE_ERRORS as exc:
            raise MalformedPayload from exc

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return super().post(request, *args, **kwargs)
        except MalformedPayload as exc:
            cause = exc.__cause__
            logger.warning("webhook %s: malformed payload: %s: %s", request.path, type(cause).__name__, cause)
            return HttpResponseBadRequest(f"Malformed webhook payload: {type(cause).__name__}")
        except SuspiciousOperation:  # failed verification, an oversized body: Django's 400
            raise
        except Exception:
            logger.exception("webhook %s: failed on our side; answering 500 so the ESP retries", request.path)
            raise


def webhook_view(view_class: type[View]) -> Callable[..., HttpResponse]:
    """One of anymail's webhook views with AnswerMalformed mixed in."""
    return type(view_class.__name__, (AnswerMalformed, view_class), {"__module__": __name__}).as_view()


def accepts_what_the_esp_sends(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """An inbound webhook takes bodies up to INBOUND_MAX_BODY_BYTES (a reply with attachments, which
    Postmark posts twice), not Django's 2.5 MB: the body is read here, so Django's own check, which
    only runs on a body not read yet, keeps guarding every other view."""

    @wraps(view)
    def accepting(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0
        if request.method == "POST" and limit < length <= settings.INBOUND_MAX_BODY_BYTES:
            request._body = request.read()
            request._stream = io.BytesIO(request._body)
        return view(request, *args, **kwargs)

    return accepting


def inbound_webhook(esp: str) -> URLPattern:
    """anymail's own inbound view for one ESP (it verifies, normalises and sends the `inbound` signal)."""
    view = accepts_what_the_esp_sends(webhook_view(INBOUND_VIEWS[esp]))
    return path(INBOUND_PATHS[esp].lstrip("/"), view, name=f"inbound-{esp}")


def tracking_webhook(esp: str) -> URLPattern:
    """anymail's tracking view for one ESP (verifies, normalises, sends the `tracking` signal)."""
    return path(TRACKING_PATHS[esp].lstrip("/"), webhook_view(TRACKING_VIEWS[esp]), name=f"tracking-{esp}")


urlpatterns = [
    path("", signup_views.home, name="home"),
    path("start/", signup_views.start, name="start"),
    path("checkout/local/<uuid:reference>/", signup_views.local_checkout, name="local-checkout"),
    path("welcome/", signup_views.welcome, name="welcome"),
    path("stripe/webhook/", signup_views.stripe_webhook, name="stripe-webhook"),
    path("admin/", admin.site.urls),
    path("dev/outbox/", outbox_views.outbox, name="outbox"),
    path("dev/outbox/<int:pk>/", outbox_views.outbox_message, name="outbox-message"),
    path("dev/outbox/<int:pk>/reply/", outbox_views.reply_to_message, name="outbox-reply"),
    path("reply/undo/<str:token>/", reply_views.undo_reply, name="undo-reply"),
    path("link/", preference_views.fresh_link, name="fresh-link"),
    path("address/<str:token>/", preference_views.confirm_address, name="confirm-address"),
    path("p/<str:token>/plan/", plan_views.your_plan, name="plan"),
    path("p/<str:token>/", preference_views.preferences, name="preferences"),
    path("p/<str:token>/unsubscribe/", preference_views.unsubscribe, name="unsubscribe"),
    path("p/<str:token>/lessons/<slug:slug>/", preference_views.archived_lesson, name="archived-lesson"),
    path("favicon.ico", pages.favicon, name="favicon"),
    path("healthz", ops_views.healthz, name="healthz"),
    path("readyz", ops_views.readyz, name="readyz"),
    path("ops/metrics", metrics.metrics_view, name="ops-metrics"),
    path("ops/", ops_views.dashboard, name="ops"),
    path("ops/readers/", ops_views.readers, name="ops-readers"),
    path("ops/readers/<int:pk>/", ops_views.reader_timeline, name="ops-reader"),
    path("ops/export/readers.csv", ops_views.export_readers, name="ops-export-readers"),
    path("ops/export/deliveries.csv", ops_views.export_deliveries, name="ops-export-deliveries"),
    inbound_webhook(settings.INBOUND_ESP),
    tracking_webhook(settings.INBOUND_ESP),
]
