"""The reader's preferences pages under their signed link `/p/<token>/` (flow 7). Thin: look
up the reader, call subscribers.preferences.page, render."""

from __future__ import annotations

from csp import constants as csp_
from csp.decorators import csp
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from course.schedule import zone
from subscribers.models import Subscriber
from subscribers.preferences import page
from subscribers.readers.changes import MIN_WEEKLY_GAP, WEEKDAYS
from subscribers.readers.course_time import hour_label
from subscribers.readers.links import subscriber_for_token


def _invalid(request: HttpRequest) -> HttpResponse:
    return render(request, "subscribers/preferences_invalid.html", status=404)


@require_http_methods(["GET", "POST"])
def preferences(request: HttpRequest, token: str) -> HttpResponse:
    subscriber = subscriber_for_token(token)
    if subscriber is None:
        return _invalid(request)
    invalid_form = None
    if request.method == "POST":
        done, invalid_form = page.apply(subscriber, request.POST)
        if invalid_form is None:
            request.session["preferences_done"] = done
            return redirect("preferences", token=token)
    return render(request, "subscribers/preferences.html", _context(request, subscriber, token, invalid_form))


def _context(request: HttpRequest, subscriber: Subscriber, token: str, invalid_form) -> dict:
    subscriber.refresh_from_db()
    track = page.TrackForm(initial={"destination": subscriber.destination}, auto_id="track_%s")
    timing = page.TimingForm(
        initial={"send_weekday": subscriber.send_weekday, "send_hour": subscriber.send_hour,
                 "time_zone": subscriber.time_zone},
        auto_id="timing_%s",
    )  # fmt: skip
    if isinstance(invalid_form, page.TimingForm):
        timing = invalid_form
    elif isinstance(invalid_form, page.TrackForm):
        track = invalid_form
    next_send = ""
    if subscriber.next_send_at:  # in the reader's zone (the template would show the site's)
        local = subscriber.next_send_at.astimezone(zone(subscriber.time_zone))
        next_send = f"{local:%A} {local.day} {local:%B} at {hour_label(local.hour)}"
    return {
        "subscriber": subscriber,
        "token": token,
        "done": request.session.pop("preferences_done", ""),
        "track_form": track,
        "timing_form": timing,
        "next_send": next_send,
        "weekday": WEEKDAYS[subscriber.send_weekday],
        "hour": hour_label(subscriber.send_hour),
        "min_gap_days": MIN_WEEKLY_GAP.days,
        "lessons": page.sent_lessons(subscriber),
        "can_change": subscriber.status in (Subscriber.Status.ACTIVE, Subscriber.Status.PAUSED),
    }


@csrf_exempt  # RFC 8058: the mailbox provider's POST carries no cookie; the signed token is the authority.
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET asks (link scanners open links and must change nothing); any POST with a valid token
    unsubscribes — `List-Unsubscribe=One-Click` from a mailbox provider, or the page's button."""
    subscriber = subscriber_for_token(token)
    if subscriber is None:
        return _invalid(request)
    done = ""
    if request.method == "POST":
        one_click = request.POST.get("List-Unsubscribe") == "One-Click"
        done = page.one_click_unsubscribe(subscriber, one_click=one_click)
        subscriber.refresh_from_db()
    return render(request, "subscribers/unsubscribe.html", {"subscriber": subscriber, "token": token, "done": done})


# A lesson as it was emailed: its own inline styles and images, nothing that runs, loads or posts.
ARCHIVE_CSP = {
    "default-src": [csp_.NONE],
    "style-src": [csp_.UNSAFE_INLINE],
    "img-src": ["https:", "data:"],
    "base-uri": [csp_.NONE],
    "form-action": [csp_.NONE],
    "frame-ancestors": [csp_.NONE],
}


@require_http_methods(["GET"])
@csp(ARCHIVE_CSP)
def archived_lesson(request: HttpRequest, token: str, slug: str) -> HttpResponse:
    """A lesson the reader has been sent, as they got it (the lesson links in emails open here)."""
    subscriber = subscriber_for_token(token)
    if subscriber is None:
        return _invalid(request)
    html = page.archived_copy(subscriber, slug)
    if html is None:
        context = {"subscriber": subscriber, "token": token}
        return render(request, "subscribers/lesson_not_sent.html", context, status=404)
    return HttpResponse(html)
