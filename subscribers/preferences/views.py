"""The reader's preferences pages under their signed link `/p/<token>/` (flow 7), the expired-link
page with its "send me a fresh link" form (`/link/`) and the new-address confirmation
(`/address/<token>/`). Thin: open the link (subscribers.readers.links), call
subscribers.preferences.page or .fresh_links, render."""

from __future__ import annotations

from csp import constants as csp_
from csp.decorators import csp
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from course.schedule import zone
from subscribers.models import Subscriber
from subscribers.preferences import fresh_links, page
from subscribers.readers import links
from subscribers.readers.changes import MIN_WEEKLY_GAP, WEEKDAYS, ChangeRefused
from subscribers.readers.course_time import hour_label
from subscribers.readers.links import Link, link_url, open_link, open_new_address, subscriber_to_unsubscribe


def _invalid(request: HttpRequest) -> HttpResponse:
    context = {"form": fresh_links.FreshLinkForm(), "max_age_days": links.max_age().days}
    return render(request, "subscribers/preferences_invalid.html", context, status=404)


def link_refused(request: HttpRequest, opened: links.Opened) -> HttpResponse:
    """A reader's link that no longer opens their pages: expired or signed out, with the fresh-link
    form; one that is not ours at all: not valid. (The plan page answers the same.)"""
    if opened.state == Link.INVALID:
        return _invalid(request)
    context = {"state": opened.state, "form": fresh_links.FreshLinkForm(), "max_age_days": links.max_age().days}
    return render(request, "subscribers/link_expired.html", context, status=403)


@require_http_methods(["GET", "POST"])
def preferences(request: HttpRequest, token: str) -> HttpResponse:
    opened = open_link(token)
    if not opened.is_open:
        return link_refused(request, opened)
    subscriber = opened.subscriber
    invalid_form = None
    if request.method == "POST":
        done, invalid_form = page.apply(subscriber, request.POST)
        if invalid_form is None:
            request.session["preferences_done"] = done
            return redirect("preferences", token=token)
    return render(request, "subscribers/preferences.html", _context(request, subscriber, token, invalid_form))


def _context(request: HttpRequest, subscriber: Subscriber, token: str, invalid_form) -> dict:
    subscriber.refresh_from_db()
    words = subscriber.course.words
    track = page.TrackForm(initial={"destination": subscriber.destination}, auto_id="track_%s", words=words)
    timing = page.TimingForm(
        initial={"send_weekday": subscriber.send_weekday, "send_hour": subscriber.send_hour,
                 "time_zone": subscriber.time_zone},
        auto_id="timing_%s",
    )  # fmt: skip
    stage = page.StageForm(initial={"stage": subscriber.stage}, auto_id="stage_%s", words=words)
    profile = page.ProfileForm(
        initial={name: getattr(subscriber, name) for name in page.PROFILE_SETTERS}, auto_id="profile_%s"
    )
    address = page.AddressForm(auto_id="address_%s")
    forms = {"timing": timing, "track": track, "stage": stage, "profile": profile, "address": address}
    for name, form_class in (("timing", page.TimingForm), ("track", page.TrackForm), ("stage", page.StageForm),
                             ("profile", page.ProfileForm), ("address", page.AddressForm)):  # fmt: skip
        if isinstance(invalid_form, form_class):
            forms[name] = invalid_form
    next_send = ""
    if subscriber.next_send_at:  # in the reader's zone (the template would show the site's)
        local = subscriber.next_send_at.astimezone(zone(subscriber.time_zone))
        next_send = f"{local:%A} {local.day} {local:%B} at {hour_label(local.hour)}"
    return {
        "subscriber": subscriber,
        "token": token,
        "done": request.session.pop("preferences_done", ""),
        **{f"{name}_form": form for name, form in forms.items()},
        "plan_url": f"{link_url(token)}plan/",
        "max_age_days": links.max_age().days,
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
    unsubscribes — `List-Unsubscribe=One-Click` from a mailbox provider, or the page's button.
    Either kind of reader link works here, however old (subscribers.readers.links)."""
    subscriber = subscriber_to_unsubscribe(token)
    if subscriber is None:
        return _invalid(request)
    done = ""
    if request.method == "POST":
        one_click = request.POST.get("List-Unsubscribe") == "One-Click"
        done = page.one_click_unsubscribe(subscriber, one_click=one_click)
        subscriber.refresh_from_db()
    # The way back to the preferences page only while this link still opens it.
    context = {"subscriber": subscriber, "token": token, "done": done, "link_open": open_link(token).is_open}
    return render(request, "subscribers/unsubscribe.html", context)


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
    opened = open_link(token)
    if not opened.is_open:
        return link_refused(request, opened)
    subscriber = opened.subscriber
    html = page.archived_copy(subscriber, slug, token)
    if html is None:
        context = {"subscriber": subscriber, "token": token}
        return render(request, "subscribers/lesson_not_sent.html", context, status=404)
    return HttpResponse(html)


@require_http_methods(["GET", "POST"])
def fresh_link(request: HttpRequest) -> HttpResponse:
    """ "Send me a fresh link": an address in, the same answer for every address (it names no reader)."""
    form = fresh_links.FreshLinkForm(request.POST or None)
    sent_to = ""
    if request.method == "POST" and form.is_valid():
        sent_to = form.cleaned_data["email"]
        fresh_links.send_fresh_links(sent_to)
    context = {"form": form, "sent_to": sent_to, "max_age_days": links.max_age().days}
    return render(request, "subscribers/fresh_link.html", context, status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
def confirm_address(request: HttpRequest, token: str) -> HttpResponse:
    """The link mailed to a new address: GET asks (mail scanners open links), the button moves the course."""
    opened, email = open_new_address(token)
    if opened.state == Link.INVALID:
        return _invalid(request)
    subscriber = opened.subscriber
    context = {"subscriber": subscriber, "email": email, "state": opened.state, "token": token}
    if not opened.is_open:
        return render(request, "subscribers/confirm_address.html", context, status=403)
    if request.method == "POST":
        try:
            page.confirm_new_address(subscriber, email)
        except ChangeRefused as refused:
            context["refused"] = str(refused)
            return render(request, "subscribers/confirm_address.html", context, status=409)
        subscriber.refresh_from_db()
        # Whoever pressed the button reads the new address's mail: their link to the pages.
        context.update(done=True, preferences_url=links.preferences_url(subscriber))
    return render(request, "subscribers/confirm_address.html", context)
