"""The "Your plan" page under the reader's signed link `/plan/<token>/`. Thin: look up, build, render."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from subscribers.plan import plan, worksheet
from subscribers.readers.links import preferences_url, subscriber_for_token


@require_GET
def your_plan(request: HttpRequest, token: str) -> HttpResponse:
    subscriber = subscriber_for_token(token)
    if subscriber is None:
        return render(request, "subscribers/preferences_invalid.html", status=404)
    context = {"plan": plan.build(subscriber), "preferences_url": preferences_url(subscriber)}
    context["pay_worksheet"] = worksheet.build(subscriber)
    return render(request, "subscribers/plan.html", context)
