from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from course.models import Course


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "subscribers/home.html", {"courses": Course.objects.all()})
