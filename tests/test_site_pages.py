"""The pages a paying customer may see when something goes wrong are ours, not Django's bare
ones: 404, 500 and the CSRF failure, each branded with a way back; and the favicon."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import path

from config import urls as site_urls


def boom(request):
    raise RuntimeError("a bug of ours")


urlpatterns = [*site_urls.urlpatterns, path("boom/", boom)]


@pytest.fixture
def production(settings):
    settings.DEBUG = False
    settings.SUPPORT_EMAIL = "help@pivotpath.example"


def test_a_missing_page_is_our_404(client, db, production):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    page = response.content.decode()
    assert "We can't find that page" in page and "<title>Page not found · Pivot Path</title>" in page
    assert 'href="/"' in page and "mailto:help@pivotpath.example" in page
    assert "Page not found at" not in page, "not Django's technical page"


def test_our_bug_is_our_500(db, production, settings):
    settings.ROOT_URLCONF = __name__
    response = Client(raise_request_exception=False).get("/boom/")
    assert response.status_code == 500
    page = response.content.decode()
    assert "Something went wrong on our side" in page and "your course and your answers are safe" in page
    assert "RuntimeError" not in page and "Server Error (500)" not in page


def test_a_form_posted_without_its_csrf_token_gets_our_page(db, production, checkin_course, settings):
    settings.SIGNUP_COURSE = checkin_course.slug
    response = Client(enforce_csrf_checks=True).post("/start/", {"email": "carol@example.com"})
    assert response.status_code == 403
    page = response.content.decode()
    assert "That form has expired" in page and "Nothing was changed" in page
    assert "CSRF verification failed" not in page


def test_every_page_links_the_favicon_and_it_is_served(client, db, checkin_course, settings):
    settings.SIGNUP_COURSE = checkin_course.slug
    assert '<link rel="icon" href="/favicon.ico"' in client.get("/").content.decode()
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert response.content.startswith(b"<svg") and "max-age=86400" in response["Cache-Control"]
