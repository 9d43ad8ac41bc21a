"""Metrics for a Prometheus scrape at /ops/metrics (flow 10), in the text format of
prometheus-client.

Web, worker and beat are separate processes (and gunicorn runs several), so counters kept in
memory would each see a part. Every figure is read from the database at scrape time instead, by
a fixed number of statements: emails by course, kind and what happened to them, replies by
outcome, the tick's duration and the due lag (from the heartbeats), and webhook answers by
status (WebhookAnswer, counted by `WebhookAnswers` as each answer leaves).
"""

from __future__ import annotations

import hmac
import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q, Sum
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from subscribers.models import Delivery, Reply, WebhookAnswer
from subscribers.ops import health

logger = logging.getLogger(__name__)

# The endpoints counted, by path prefix.
WEBHOOKS = {"/stripe/webhook/": "stripe", "/anymail/": "esp"}
EMAIL_FIGURES = {
    "planned": Count("id"),
    "sent": Count("id", filter=Q(sent_at__isnull=False)),
    "failed": Count("id", filter=Q(state=Delivery.State.FAILED)),
    "retried": Sum(F("attempts") - 1, filter=Q(attempts__gt=1)),
    "bounced": Count("id", filter=Q(outcome=Delivery.Outcome.BOUNCED)),
    "complained": Count("id", filter=Q(outcome=Delivery.Outcome.COMPLAINED)),
}


class Figures:
    """A prometheus-client collector that reads the database when scraped."""

    def collect(self):
        emails = {name: CounterMetricFamily(f"pivotpath_emails_{name}", f"Emails {name}, by course and kind",
                                            labels=["course", "kind"]) for name in EMAIL_FIGURES}  # fmt: skip
        rows = Delivery.objects.values("lesson__course__slug", "lesson__kind").annotate(**EMAIL_FIGURES)
        for row in rows.order_by("lesson__course__slug", "lesson__kind"):
            labels = [row["lesson__course__slug"], row["lesson__kind"]]
            for name, family in emails.items():
                family.add_metric(labels, row[name] or 0)
        yield from emails.values()

        replies = CounterMetricFamily("pivotpath_replies", "Replies received, by outcome", labels=["outcome"])
        for row in Reply.objects.values("status").annotate(n=Count("id")).order_by("status"):
            replies.add_metric([row["status"]], row["n"])
        yield replies

        answers = CounterMetricFamily(
            "pivotpath_webhook_answers", "Webhook answers, by endpoint and HTTP status", labels=["endpoint", "status"]
        )
        for row in WebhookAnswer.objects.order_by("endpoint", "status"):
            answers.add_metric([row.endpoint, str(row.status)], row.count)
        yield answers

        now = timezone.now()
        beats = health.heartbeats()
        tick = beats.get(health.TICK)
        duration = GaugeMetricFamily("pivotpath_tick_duration_seconds", "How long the last tick took")
        planned = GaugeMetricFamily("pivotpath_tick_planned", "Emails the last tick planned")
        if tick is not None:
            duration.add_metric([], float(tick.detail.get("seconds") or 0))
            planned.add_metric([], float(tick.detail.get("planned") or 0))
        yield duration
        yield planned
        ages = GaugeMetricFamily("pivotpath_heartbeat_age_seconds", "Seconds since each heartbeat", labels=["name"])
        for name, row in sorted(beats.items()):
            ages.add_metric([name], (now - row.at).total_seconds())
        yield ages
        oldest = health.oldest_due(now)
        yield GaugeMetricFamily(
            "pivotpath_due_lag_seconds",
            "How long the reader who has waited longest for their email has waited",
            value=(now - oldest).total_seconds() if oldest else 0.0,
        )
        depth = health.queue_depth()
        if depth is not None:
            yield GaugeMetricFamily("pivotpath_queue_depth", "Task messages waiting in the broker", value=depth)


def exposition() -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Figures())
    return generate_latest(registry)


def allowed(request: HttpRequest) -> bool | None:
    """True for a scrape with `Authorization: Bearer <METRICS_TOKEN>` or an operator's session
    (staff with the permission /ops/ asks for); False for a wrong token; None: not signed in."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        token = settings.METRICS_TOKEN
        return bool(token) and hmac.compare_digest(header[len("Bearer ") :].encode(), token.encode())
    user = request.user
    if not (user.is_active and user.is_staff):
        return None
    return user.has_perm("subscribers.view_subscriber")


def metrics_view(request: HttpRequest) -> HttpResponse:
    from django.contrib.auth.views import redirect_to_login

    ok = allowed(request)
    if ok is None:
        return redirect_to_login(request.get_full_path(), "admin:login")
    if not ok:
        return HttpResponse("Not allowed.\n", status=403 if request.user.is_authenticated else 401,
                            content_type="text/plain")  # fmt: skip
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)


class WebhookAnswers:
    """Middleware: counts each webhook's answer by endpoint and status (one UPDATE; an INSERT the
    first time). A counter that cannot be written (the database is away) is logged and skipped:
    the answer itself goes out unchanged."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        endpoint = next((name for prefix, name in WEBHOOKS.items() if request.path.startswith(prefix)), None)
        if endpoint is not None:
            try:
                count(endpoint, response.status_code)
            except Exception as exc:
                logger.warning("webhook answer not counted (%s %s): %s", endpoint, response.status_code, exc)
        return response


def count(endpoint: str, status: int) -> None:
    rows = WebhookAnswer.objects.filter(endpoint=endpoint, status=status)
    if rows.update(count=F("count") + 1):
        return
    try:
        with transaction.atomic():
            WebhookAnswer.objects.create(endpoint=endpoint, status=status, count=1)
    except IntegrityError:  # another request created it meanwhile
        rows.update(count=F("count") + 1)
