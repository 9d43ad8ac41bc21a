from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from subscribers import checkout


def home(request: HttpRequest) -> HttpResponse:
    """The course page: what a clinician needs to decide, the price, and the way in."""
    return render(request, "subscribers/home.html", {"course": checkout.signup_course()})
