"""The "Your plan" page under the reader's signed link `/plan/<token>/`. Thin: look up, build, render."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from subscribers.plan import plan, worksheet
from subscribers.preferences.views import link_refused
from subscribers.readers.links import link_url, open_link


@require_GET
def your_plan(request: HttpRequest, token: str) -> HttpResponse:
    opened = open_link(token)
    if not opened.is_open:  # expired, signed out or not ours: the preferences pages' answer
        return link_refused(request, opened)
    subscriber = opened.subscriber
    # The way to preferences carries this same link: the plan page never hands out a newer one.
    context = {"plan": plan.build(subscriber), "preferences_url": link_url(token)}
    context["pay_worksheet"] = worksheet.build(subscriber)
    return render(request, "subscribers/plan.html", context)
