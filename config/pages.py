"""Site-wide pages outside any flow: what a visitor sees when something goes wrong (branded,
short, with a way back), the favicon, and the support address every page may show.

Django renders `404.html` and `500.html` from config/templates itself; the CSRF failure (a form
left open too long, cookies blocked) comes through `csrf_failure` (CSRF_FAILURE_VIEW).
"""

from __future__ import annotations

from functools import cache

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template import loader
from django.views.decorators.cache import cache_control


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """403 with our page; the reason goes to the log (Django logs it), not to the visitor."""
    return HttpResponse(loader.render_to_string("403_csrf.html", {}, request), status=403)


def support(request: HttpRequest) -> dict[str, str]:
    """Context processor: the support address (SUPPORT_EMAIL) on every page that may need it."""
    return {"support_email": settings.SUPPORT_EMAIL}


FAVICON = settings.BASE_DIR / "config" / "static" / "favicon.svg"


@cache
def _favicon() -> bytes:
    return FAVICON.read_bytes()


@cache_control(max_age=86400, public=True)
def favicon(request: HttpRequest) -> HttpResponse:
    """/favicon.ico, where browsers look first: the SVG icon (every current browser reads it)."""
    return HttpResponse(_favicon(), content_type="image/svg+xml")
