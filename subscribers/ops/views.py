"""The operator pages under /ops/: the dashboard, readers, a reader's timeline and the CSV
exports. Staff with the `subscribers.view_subscriber` permission only (other staff get a 403;
anyone else is sent to the admin login). Thin: parse, call subscribers.ops.reports."""

from __future__ import annotations

import json

from django import forms
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.cache import never_cache

from course.models import Course
from course.schedule import zone
from course.vocabulary import Destination, Stage
from subscribers.models import Conversation, Reply, Subscriber
from subscribers.ops import charts, health, reports
from subscribers.replies import conversations, inbound

PERIODS = (7, 30, 90)
READERS_PAGE = 100
EMAIL_COLORS = {"sent": "#4a78b5", "delivered": "#2f6f62", "bounced": "#b5495b", "complained": "#d08c2c"}
STATUS_COLORS = {
    "active": "#2f6f62", "paused": "#d08c2c", "completed": "#4a78b5", "unsubscribed": "#9a9a9a",
    "refunded": "#7a5fb0", "suppressed": "#b5495b",
}  # fmt: skip
STAGE_COLORS = {"Deciding": "#c9d8d3", "Conversations": "#8fb8ad", "Searching": "#4f9484", "Interviewing": "#2f6f62",
                "Landed": "#14332d", "left the course": "#d9a3ad"}  # fmt: skip
REPLY_COLORS = {"applied": "#2f6f62", "review": "#d08c2c", "ignored": "#9a9a9a", "dismissed": "#b8b0a4",
                "received": "#4a78b5"}  # fmt: skip


def every_destination() -> list[tuple[str, str]]:
    """Every course's tracks (each course's own vocabulary), once each, for the filter."""
    seen: dict[str, str] = dict(Destination.choices)
    for course in Course.objects.all():
        for slug, label in course.words.destination_choices():
            seen.setdefault(slug, label)
    return list(seen.items())


class FilterForm(forms.Form):
    """Narrows the readers page and the exports; bad values get a 400 that names them."""

    course = forms.ModelChoiceField(Course.objects.all(), required=False, to_field_name="slug", empty_label="all")
    status = forms.ChoiceField(choices=[("", "any"), *Subscriber.Status.choices], required=False)
    stage = forms.ChoiceField(choices=[("", "any"), *Stage.choices], required=False)
    destination = forms.ChoiceField(choices=lambda: [("", "any"), *every_destination()], required=False)
    since = forms.DateField(required=False, label="from", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label="to", widget=forms.DateInput(attrs={"type": "date"}))
    q = forms.CharField(required=False, max_length=200, label="email or name")

    def filters(self) -> reports.Filters:
        data = self.cleaned_data
        return reports.Filters(data["course"], data["status"], data["stage"], data["destination"], data["since"],
                           data["until"], data["q"].strip())  # fmt: skip

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            raise forms.ValidationError("The 'from' date is after the 'to' date.")
        return data


# Every page here shows readers' names and addresses, and the exports list them all.
OPS_PERMISSION = "subscribers.view_subscriber"


def operator_required(view):
    """Staff (else the admin login) who hold OPS_PERMISSION (else 403)."""
    return staff_member_required(permission_required(OPS_PERMISSION, raise_exception=True)(view))


def _bad_filters(form: FilterForm) -> HttpResponse:
    problems = "; ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())
    return HttpResponseBadRequest(f"Bad filter: {problems}", content_type="text/plain; charset=utf-8")


@operator_required
def dashboard(request: HttpRequest) -> HttpResponse:
    courses = list(Course.objects.order_by("title"))
    course = next((c for c in courses if c.slug == request.GET.get("course")), None)
    days = int(request.GET["days"]) if request.GET.get("days") in {str(p) for p in PERIODS} else 30
    data = reports.overview(course, days)
    day_labels = [f"{day.day:%b %d}" for day in data.emails]
    words = course.words if course else None  # the course's own stages and tracks; built-in across courses
    cohort_labels, cohort_series = reports.cohort_series(data.cohorts, words)
    reply_items = [(status, data.replies.get(status, 0)) for status in ("applied", "review", "ignored", "dismissed")]
    context = {
        "data": data,
        "courses": courses,
        "course": course,
        "periods": PERIODS,
        "charts": {
            "status": charts.donut(
                "Readers by status",
                [(s.value, data.by_status.get(s.value, 0)) for s in Subscriber.Status],
                colors=STATUS_COLORS,
            ),
            "stage": charts.horizontal_bars(
                "Readers in the course by stage", reports.stage_items(data.by_stage, words), width=460
            ),
            "destination": charts.horizontal_bars(
                "Readers in the course by destination",
                reports.destination_items(
                    data.by_destination, *([words] if words else []), *(c.words for c in courses)
                ),
                width=460,
            ),
            "emails": charts.line_chart(
                f"Emails per day, last {days} days",
                day_labels,
                {"sent": [d.sent for d in data.emails], "delivered": [d.delivered for d in data.emails]},
                colors=EMAIL_COLORS,
                width=940,
            ),
            "problems": charts.stacked_bars(
                "Bounces and complaints per day",
                day_labels,
                {"bounced": [d.bounced for d in data.emails], "complained": [d.complained for d in data.emails]},
                colors=EMAIL_COLORS,
                width=940,
                height=170,
            ),
            "replies": charts.donut("Replies by how they were understood", reply_items, colors=REPLY_COLORS),
            "cohorts": charts.stacked_bars(
                "Where each enrolment cohort is now (% of its readers, by the month they enrolled)",
                cohort_labels,
                cohort_series,
                colors=STAGE_COLORS,
                width=940,
                height=280,
            ),
        },
        "rates": _rates(data),
        "ops": health.operations(),
        "review_url": f"/admin/subscribers/reply/?status__exact={Reply.Status.REVIEW}",
    }
    return render(request, "subscribers/ops/dashboard.html", context)


def _rates(data: reports.Overview) -> dict[str, str]:
    """Bounce and complaint rates, and how worried to be (above 2% bounces or 0.1% complaints
    mailbox providers start to filter a sender)."""
    bounced, complained = data.outcome_rate("bounced"), data.outcome_rate("complained")
    if bounced is None or complained is None:
        return {"bounced": "-", "complained": "-", "tone": "plain"}
    tone = "bad" if bounced > 0.02 or complained > 0.001 else ("warn" if bounced > 0.01 else "")
    return {"bounced": f"{bounced:.1%}", "complained": f"{complained:.2%}", "tone": tone}


@operator_required
def readers(request: HttpRequest) -> HttpResponse:
    form = FilterForm(request.GET or None)
    if request.GET and not form.is_valid():
        return _bad_filters(form)
    filters = form.filters() if form.is_bound else reports.Filters()
    rows = (
        filters.readers()
        .select_related("course")
        .only(
            "id", "email", "first_name", "status", "stage", "destination", "enrolled_at", "next_send_at", "course__slug"
        )
    )
    shown = list(rows.order_by("-enrolled_at", "-id")[: READERS_PAGE + 1])
    query = request.GET.urlencode()
    context = {
        "form": form,
        "readers": shown[:READERS_PAGE],
        "more": len(shown) > READERS_PAGE,
        "limit": READERS_PAGE,
        "query": f"?{query}" if query else "",
    }
    return render(request, "subscribers/ops/readers.html", context)


@operator_required
def reader_timeline(request: HttpRequest, pk: int) -> HttpResponse:
    subscriber = get_object_or_404(Subscriber.objects.select_related("course"), pk=pk)
    story = reports.timeline(subscriber)
    context = {"story": story, "subscriber": subscriber, "local": zone(subscriber.time_zone), "now": timezone.now()}
    context["thread"] = conversations.thread(subscriber, undo_url=inbound.undo_url, limit=50)
    context["conversation"] = Conversation.objects.filter(subscriber=subscriber).first()
    return render(request, "subscribers/ops/timeline.html", context)


@operator_required
def export_readers(request: HttpRequest) -> HttpResponse:
    return _export(request, "readers", lambda f: f.readers(), reports.READER_COLUMNS)


@operator_required
def export_deliveries(request: HttpRequest) -> HttpResponse:
    return _export(request, "deliveries", lambda f: f.deliveries(), reports.DELIVERY_COLUMNS)


def _export(request: HttpRequest, name: str, rows, columns: dict[str, str]) -> HttpResponse:
    form = FilterForm(request.GET)
    if not form.is_valid():
        return _bad_filters(form)
    response = StreamingHttpResponse(reports.csv_lines(rows(form.filters()), columns), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{name}-{timezone.now():%Y%m%d-%H%M}.csv"'
    return response


# --- Health (for a load balancer and an uptime monitor; no login) ------------------------------


def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness: the web process answers. Touches nothing else, not even the database."""
    return JsonResponse({"status": "ok"})


@never_cache
def readyz(request: HttpRequest) -> HttpResponse:
    """Readiness: the database, the broker, the last tick, beat, a worker and the due lag, one
    line each; 503 when one fails."""
    checks = health.readiness()
    ok = all(check.ok for check in checks)
    lines = ",\n".join(f"  {json.dumps(check.name)}: {json.dumps(check.as_json())}" for check in checks)
    body = f'{{"status": "{"ok" if ok else "failing"}", "checks": {{\n{lines}\n}}}}\n'
    response = HttpResponse(body, status=200 if ok else 503, content_type="application/json")
    if not ok:
        response["Retry-After"] = "30"
    return response
