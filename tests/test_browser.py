"""A visitor in a real browser (Debian's Chromium, driven by pytest-playwright) goes from the
course page through the intake and the local checkout to /welcome/, and the welcome email is
in the outbox. Screenshots of each page at desktop and phone widths go to test-artifacts/."""

from __future__ import annotations

import os
import re
import shutil

import pytest

from lessons.importing import import_path
from subscribers.models import Subscriber
from subscribers.sending import drip
from tests.conftest import ROOT, SHIPPED_CONTENT, operator, outbox_to

ARTIFACTS = ROOT / "test-artifacts"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
CHROMIUM = shutil.which("chromium")

pytestmark = pytest.mark.browser


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if CHROMIUM is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed; .ci/run installs it with apt-get")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    flags = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
    # Playwright's sync API keeps an event loop running in this thread from here to the end of
    # the session (browser tests run last); the tests and their teardown still use the database.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield {**browser_type_launch_args, "executable_path": CHROMIUM, "args": [*flags, "--disable-sync"]}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": DESKTOP, "timezone_id": "America/Chicago", "locale": "en-US"}


@pytest.fixture
def site(transactional_db, live_server, settings):
    """The shipped course on a live server, with no Stripe keys: the local checkout."""
    import_path(SHIPPED_CONTENT / "clinical-to-non-clinical")
    settings.SIGNUP_COURSE = "clinical-to-non-clinical"
    settings.STRIPE_SECRET_KEY = settings.STRIPE_WEBHOOK_SECRET = settings.STRIPE_PRICE_ID = ""
    settings.LOCAL_CHECKOUT = True
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False
    ARTIFACTS.mkdir(exist_ok=True)
    return live_server.url


def screenshots(page, name: str) -> None:
    for width, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        page.screenshot(path=ARTIFACTS / f"{name}-{width}.png", full_page=True)
    page.set_viewport_size(DESKTOP)


def test_a_visitor_fills_the_intake_pays_locally_and_gets_the_welcome_email(site, page):
    page.goto(f"{site}/")
    assert page.get_by_role("heading", level=1).inner_text() == "Leave the bedside without leaving healthcare"
    screenshots(page, "course-page")

    page.get_by_role("link", name="Answer the four questions").click()
    page.wait_for_url(f"{site}/start/")
    assert page.get_by_label("Your time zone").input_value() == "America/Chicago", "defaulted from the browser"

    page.get_by_label("Email address").fill("carol@example")
    page.get_by_label("First name").fill("Carol")
    page.get_by_label("Registered nurse").check()
    page.get_by_label("Current role and specialty").fill("ICU nurse")
    page.get_by_label("Direct patient care itself").check()
    page.get_by_label("Which destination are you considering?").select_option("payer")
    page.get_by_label("Keep it active").check()
    page.get_by_label("We can absorb a modest drop for a while").check()
    page.get_by_label("When should the weekly email arrive?").select_option("7")
    page.get_by_role("button", name="Continue to payment").click()

    summary = page.get_by_role("alert")
    assert "Please fix one thing" in summary.inner_text()
    assert page.evaluate("document.activeElement.id") == "error-summary", "the error summary takes the focus"
    assert page.get_by_label("First name").input_value() == "Carol", "nothing typed is lost"
    assert page.get_by_label("Keep it active").is_checked()
    screenshots(page, "start-with-error")

    summary.get_by_role("link").click()
    page.get_by_label("Email address").fill("carol@example.com")
    page.get_by_label("Email address").press("Enter")

    page.wait_for_url(f"{site}/checkout/local/**")
    assert "Local test checkout: no real payment." in page.get_by_role("note").inner_text()
    screenshots(page, "local-checkout")
    page.get_by_role("button", name="Pay $79.00 (test)").click()

    page.wait_for_url(f"{site}/welcome/")
    assert page.get_by_role("heading", level=1).inner_text() == "You're in, Carol"
    screenshots(page, "welcome")

    carol = Subscriber.objects.get(email="carol@example.com")
    assert (carol.stage, carol.destination, carol.time_zone, carol.send_hour) == (
        "conversations",
        "payer",
        "America/Chicago",
        7,
    )
    assert [drip.send_delivery(d) for d in drip.tick(queue=False).delivery_ids] == ["sent"]
    (welcome,) = outbox_to("carol@example.com")
    assert welcome.subject.startswith("Welcome")

    # The welcome email's "Your plan" link: what she told us and what the course does with each answer.
    plan_link = re.search(r"Your plan: (\S+)", welcome.text)[1].replace("http://127.0.0.1:8000", site)
    page.goto(plan_link)
    assert page.get_by_role("heading", level=1).inner_text() == "Your plan"
    told = page.locator("dl").inner_text()
    assert "Payer" in told and "Keep it active" in told and "ICU nurse" in told
    assert page.locator("td.when").count() == 8
    screenshots(page, "plan")
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "the plan fits a phone"
    page.set_viewport_size(DESKTOP)


def test_a_reader_changes_their_preferences_on_a_phone(site, page):
    from course.models import Course
    from subscribers.readers.enrolment import Intake, enroll
    from subscribers.readers.links import preferences_url

    course = Course.objects.get(slug="clinical-to-non-clinical")
    reader = enroll(
        course,
        Intake(email="pat@example.com", first_name="Pat", destination="payer", time_zone="America/Denver", send_hour=7),
        actor="test",
        why="browser test",
    )
    drip.send_delivery(drip.tick(queue=False).delivery_ids[0])
    page.set_viewport_size(PHONE)
    page.goto(preferences_url(reader).replace("http://127.0.0.1:8000", site))

    assert page.get_by_role("heading", level=1).inner_text() == "Your course preferences"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "nothing wider than the phone"
    page.screenshot(path=ARTIFACTS / "preferences-phone.png", full_page=True)
    assert "at 7:00 am (America/Denver)" in page.content(), "the next email in the reader's own time"

    page.get_by_label("Day").select_option("4")
    page.get_by_label("Time", exact=True).select_option("18")
    page.get_by_label("Time zone").select_option("America/Chicago")
    page.get_by_role("button", name="Save time").click()
    assert "Friday 18:00 America/Chicago" in page.get_by_role("status").inner_text()

    page.get_by_role("button", name="Pause the course").click()
    assert "Your course is paused" in page.get_by_role("status").inner_text()
    page.screenshot(path=ARTIFACTS / "preferences-paused-phone.png", full_page=True)

    page.get_by_role("link", name="Unsubscribe from Clinical to non-clinical").click()
    page.screenshot(path=ARTIFACTS / "unsubscribe-phone.png", full_page=True)
    page.get_by_role("button", name="Unsubscribe").click()
    assert page.get_by_role("heading", level=1).inner_text() == "You are unsubscribed"

    reader.refresh_from_db()
    assert (reader.status, reader.send_weekday, reader.send_hour, reader.time_zone) == (
        "unsubscribed",
        4,
        18,
        "America/Chicago",
    )


def test_an_operator_sees_the_course_at_a_glance_and_drills_into_a_reader(site, page, checkin_course):
    """The dashboard and a reader's timeline, screenshotted at desktop width, after the admin login."""
    from tests.course_history import course_history

    course_history(checkin_course, 120)
    operator("operator", "a-long-test-password")
    page.goto(f"{site}/ops/")
    page.wait_for_url(f"{site}/admin/login/?next=/ops/")
    page.get_by_label("Username").fill("operator")
    page.get_by_label("Password").fill("a-long-test-password")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{site}/ops/")
    assert page.get_by_role("heading", level=1).inner_text() == "How the course is going"
    assert page.locator("svg").count() == 7
    page.screenshot(path=ARTIFACTS / "ops-dashboard-desktop.png", full_page=True)

    assert fits_a_phone(page, "ops-dashboard-phone")

    page.locator("table a").first.click()
    page.wait_for_url(f"{site}/ops/readers/*/")
    assert page.get_by_role("heading", name="What the planner sends next, and why").is_visible()
    page.screenshot(path=ARTIFACTS / "ops-reader-timeline-desktop.png", full_page=True)
    assert fits_a_phone(page, "ops-reader-timeline-phone")
    page.goto(f"{site}/ops/readers/")
    assert fits_a_phone(page, "ops-readers-phone")


def fits_a_phone(page, name: str) -> bool:
    """At 390 px nothing is wider than the screen (tables scroll inside their box); screenshot it."""
    page.set_viewport_size(PHONE)
    page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)
    width = page.evaluate("document.documentElement.scrollWidth")
    page.set_viewport_size(DESKTOP)
    return width <= PHONE["width"]


def test_the_simulation_report_fits_a_phone(site, page, tmp_path):
    from django.core.management import call_command

    report = tmp_path / "simulation-report.html"
    call_command("simulate", "--readers=8", "--months=3", "--seed=7", "--start=2026-01-05T09:00Z", f"--out={report}")
    page.goto(report.as_uri())
    assert page.get_by_role("heading", level=1).is_visible()
    assert fits_a_phone(page, "simulation-report-phone")


def test_an_expired_link_brings_a_fresh_one_and_the_reader_changes_stage_profile_and_address(site, page):
    """The expired-link page, its fresh link, the stage / profile / address forms and the new
    address's confirmation, each screenshotted at desktop and phone widths."""
    from datetime import timedelta

    from django.utils import timezone

    from course.models import Course
    from subscribers.readers.enrolment import Intake, enroll
    from subscribers.readers.links import preferences_url

    def local(url: str) -> str:
        return url.replace("http://127.0.0.1:8000", site)

    def fits(name: str) -> None:
        screenshots(page, name)
        page.set_viewport_size(PHONE)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], f"{name} fits a phone"
        page.set_viewport_size(DESKTOP)

    course = Course.objects.get(slug="clinical-to-non-clinical")
    reader = enroll(
        course,
        Intake(
            email="rosa@example.com", first_name="Rosa", destination="payer", time_zone="America/Denver", send_hour=7
        ),
        actor="test",
        why="browser test",
    )
    drip.send_delivery(drip.tick(queue=False).delivery_ids[0])
    month_old = preferences_url(reader, timezone.now() - timedelta(days=31))

    page.goto(local(month_old))
    assert page.get_by_role("heading", level=1).inner_text() == "This link has expired"
    fits("link-expired")
    page.get_by_label("Your email address").fill("rosa@example.com")
    page.get_by_role("button", name="Send me a fresh link").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Check your inbox"
    fits("fresh-link-sent")

    fresh = outbox_to("rosa@example.com")[-1]
    assert fresh.subject == "Your link to your Clinical to non-clinical preferences"
    page.goto(local(re.search(r"http://\S+/p/\S+/", fresh.text)[0]))
    assert page.get_by_role("heading", level=1).inner_text() == "Your course preferences"
    fits("preferences-all")

    page.get_by_label("4. Interviewing").check()
    page.get_by_role("button", name="Save stage").click()
    assert "Your stage is now 4, Interviewing" in page.get_by_role("status").inner_text()

    page.get_by_label("Your profession").select_option("rn")
    page.get_by_label("Current role and specialty").fill("ICU nurse")
    page.get_by_label("Keep it active").check()
    page.get_by_role("button", name="Save answers").click()
    assert "Saved your profession, role and specialty and license" in page.get_by_role("status").inner_text()

    page.get_by_label("New email address").fill("rosa.m@example.org")
    page.get_by_role("button", name="Send the link").click()
    assert "We sent a link to rosa.m@example.org" in page.get_by_role("status").inner_text()
    old_link = page.url

    (confirm,) = outbox_to("rosa.m@example.org")
    page.goto(local(re.search(r"http://\S+/address/\S+/", confirm.text)[0]))
    assert page.get_by_role("heading", level=1).inner_text() == "Use this address for your course?"
    fits("new-address-confirm")
    page.get_by_role("button", name="Yes, send my course here").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Your course now comes here"
    fits("new-address-done")

    page.goto(old_link)
    assert page.get_by_role("heading", level=1).inner_text() == "This link has been signed out"
    fits("link-signed-out")
    reader.refresh_from_db()
    assert (reader.email, reader.stage, reader.profession, reader.specialty, reader.license_plan) == (
        "rosa.m@example.org", "interviewing", "rn", "ICU nurse", "keep"
    )  # fmt: skip
