"""Links that can be forwarded: the preferences, plan and archive links in emails expire and can be
signed out; the one-click unsubscribe keeps working; an expired link's page sends a fresh link to
whoever owns the address (the same answer for any address); a new email address is confirmed from
itself; the page changes stage and the reader profile through subscribers.readers.changes."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.core import signing
from django.test import Client
from django.utils import timezone

from subscribers.models import Event, Subscriber
from subscribers.preferences import fresh_links
from subscribers.readers import changes, links
from subscribers.readers.links import Link, open_link, preferences_url, unsubscribe_url
from subscribers.sending import drip
from tests.conftest import outbox_to

SITE = "https://course.example.com"


@pytest.fixture(autouse=True)
def https_site(settings):
    settings.SITE_URL = SITE
    settings.READER_LINK_MAX_AGE_DAYS = 30


def path_of(url: str) -> str:
    return url.removeprefix(SITE)


def welcome_for(reader: Subscriber):
    assert drip.send_delivery(drip.tick(queue=False).delivery_ids[0]) == "sent"
    return outbox_to(reader.email)[-1]


def later(days: float):
    return time_machine.travel(timezone.now() + timedelta(days=days), tick=False)


def email_links(message) -> dict[str, str]:
    """The links a course email carries, by what they open."""
    urls = set(re.findall(r'href="([^"]+)"', message.html)) | set(re.findall(r"https://\S+/", message.text))
    found = {}
    for url in urls:
        kind = "unsubscribe" if url.endswith("/unsubscribe/") else "plan" if url.endswith("/plan/") else None
        kind = kind or ("lesson" if "/lessons/" in url else "preferences")
        found.setdefault(kind, url)
    return found


def one_click(client: Client, url: str):
    return client.post(path_of(url), "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")


# --- Expiry ------------------------------------------------------------------------------------


def test_an_emails_links_open_for_the_stated_period_then_show_the_fresh_link_page(alice):
    welcome = welcome_for(alice)
    found = email_links(welcome)
    assert {"preferences", "plan", "unsubscribe"} <= found.keys()

    with later(29):
        for kind in ("preferences", "plan"):
            assert Client().get(path_of(found[kind])).status_code == 200, kind
        assert Client().get(f"{path_of(found['preferences'])}lessons/welcome/").status_code == 200

    with later(31):
        for path in (found["preferences"], found["plan"], f"{found['preferences']}lessons/welcome/"):
            response = Client().get(path_of(path))
            assert response.status_code == 403
            assert b"This link has expired" in response.content
            assert b"Send me a fresh link" in response.content
            assert b"alice@example.com" not in response.content, "the page does not name the reader"
        # A forwarded month-old email changes nothing.
        Client().post(path_of(found["preferences"]), {"action": "pause"})
        alice.refresh_from_db()
        assert alice.status == "active"


def test_the_one_click_unsubscribe_in_header_and_footer_works_on_an_email_a_year_old(alice):
    welcome = welcome_for(alice)
    header = re.findall(r"<(https://[^>]+)>", welcome.headers["List-Unsubscribe"])[0]
    assert header == unsubscribe_url(alice)
    footer = email_links(welcome)["unsubscribe"]

    with later(400):
        assert b"Unsubscribe from Test course?" in Client().get(path_of(footer)).content
        response = one_click(Client(), header)
        assert b"You are unsubscribed" in response.content
    alice.refresh_from_db()
    assert alice.status == "unsubscribed"
    with later(401):
        assert one_click(Client(), footer).status_code == 200


def test_a_link_from_before_links_expired_still_unsubscribes_but_opens_nothing_else(alice):
    welcome_for(alice)
    old = signing.dumps(alice.pk, salt="subscribers.preferences", compress=True)  # as every email carried it

    response = Client().get(f"/p/{old}/")
    assert response.status_code == 403 and b"This link has expired" in response.content
    assert Client().get(f"/p/{old}/plan/").status_code == 403
    assert Client().get(f"/p/{old}/lessons/welcome/").status_code == 403
    page = Client().get(f"/p/{old}/unsubscribe/").content.decode()
    assert "Unsubscribe from Test course?" in page
    assert f'href="/p/{old}/"' not in page, "no way into the preferences through the old link"
    done = Client().post(f"/p/{old}/unsubscribe/").content.decode()
    assert "You are unsubscribed" in done and "Email me a link to my preferences" in done
    alice.refresh_from_db()
    assert alice.status == "unsubscribed"


def test_links_in_the_archive_carry_the_link_it_was_opened_with(alice):
    welcome_for(alice)
    token = links.preferences_token(alice)
    with later(20):
        html = Client().get(f"/p/{token}/lessons/welcome/").content.decode()
        tokens = set(re.findall(r"/p/([^/\"]+)/", html))
    assert tokens == {token}, "reading the archive never hands out a newer link"


# --- Signing out -------------------------------------------------------------------------------


def test_signing_out_every_link_in_the_admin_closes_old_links_and_is_audited(alice, admin_client):
    old = email_links(welcome_for(alice))
    response = admin_client.post(
        "/admin/subscribers/subscriber/", {"action": "sign_out_links", "_selected_action": [alice.pk]}, follow=True
    )
    assert b"Signed out every link of 1 reader" in response.content

    page = Client().get(path_of(old["preferences"]))
    assert page.status_code == 403 and b"This link has been signed out" in page.content
    assert Client().get(path_of(old["plan"])).status_code == 403
    alice.refresh_from_db()
    assert Client().get(path_of(preferences_url(alice))).status_code == 200, "a link made since opens"
    event = Event.objects.get(subscriber=alice, what=Event.What.LINKS_REVOKED)
    assert (event.before, event.after, event.actor) == (0, 1, "admin:admin")
    assert one_click(Client(), old["unsubscribe"]).status_code == 200
    alice.refresh_from_db()
    assert alice.status == "unsubscribed", "unsubscribing still works on a signed-out email"


def test_a_tampered_expiring_token_is_not_valid(alice):
    token = links.preferences_token(alice)
    payload, stamp, _signature = token.split(":")
    forged = f"{payload}:{stamp}:{'A' * 43}"
    assert open_link(forged).state == Link.INVALID
    assert Client().get(f"/p/{forged}/").status_code == 404
    other = signing.dumps([alice.pk, 0, "x"], salt=links.EXPIRING_SALT)
    assert open_link(other).state == Link.INVALID, "a signed token of the wrong shape"


# --- Send me a fresh link --------------------------------------------------------------------


def fresh_link_page(client: Client) -> str:
    response = client.get("/link/")
    assert response.status_code == 200
    return client.cookies["csrftoken"].value


def ask(client: Client, csrf: str, email: str):
    return client.post("/link/", {"email": email, "csrfmiddlewaretoken": csrf})


def test_the_fresh_link_form_emails_a_working_link_and_answers_the_same_for_any_address(
    alice, django_capture_on_commit_callbacks
):
    client = Client(enforce_csrf_checks=True)
    csrf = fresh_link_page(client)
    with django_capture_on_commit_callbacks(execute=True):
        known = ask(client, csrf, " Alice@Example.com ")
        unknown = ask(client, csrf, "nobody@example.com")

    assert known.status_code == unknown.status_code == 200
    strip = re.compile(rb"alice@example\.com|nobody@example\.com|name=\"csrfmiddlewaretoken\" value=\"[^\"]+\"")
    assert strip.sub(b"", known.content) == strip.sub(b"", unknown.content), "the page names no reader"
    assert b"a fresh link to its preferences is on its way" in known.content
    assert outbox_to("nobody@example.com") == []

    (email,) = outbox_to("alice@example.com")
    assert email.subject == "Your link to your Test course preferences"
    url = re.search(r"https://\S+/p/\S+/", email.text)[0]
    with later(29):
        assert b"Your course preferences" in Client().get(path_of(url)).content
    event = Event.objects.get(subscriber=alice, what=Event.What.LINK_SENT)
    assert event.actor == "visitor"


def test_the_fresh_link_form_needs_its_csrf_token_and_a_real_address(alice):
    client = Client(enforce_csrf_checks=True)
    assert client.post("/link/", {"email": "alice@example.com"}).status_code == 403
    csrf = fresh_link_page(client)
    response = ask(client, csrf, "alice@")
    assert response.status_code == 400
    assert b"Enter an email address like name@example.com." in response.content
    assert outbox_to("alice@example.com") == []


def test_an_address_gets_at_most_three_fresh_links_a_day(alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        sent = [fresh_links.send_fresh_links("alice@example.com") for _ in range(5)]
    assert sent == [1, 1, 1, 0, 0]
    assert len(outbox_to("alice@example.com")) == fresh_links.FRESH_LINKS_PER_DAY
    with later(1.01), django_capture_on_commit_callbacks(execute=True):
        assert fresh_links.send_fresh_links("alice@example.com") == 1


def test_a_suppressed_address_gets_no_fresh_link(alice, django_capture_on_commit_callbacks):
    changes.suppress(alice, actor="esp:postmark", why="hard bounce")
    with django_capture_on_commit_callbacks(execute=True):
        assert fresh_links.send_fresh_links("alice@example.com") == 0
    assert outbox_to("alice@example.com") == []


# --- A new email address -----------------------------------------------------------------------


def preferences_post(reader: Subscriber, data: dict, client: Client | None = None):
    client = client or Client(enforce_csrf_checks=True)
    url = path_of(preferences_url(reader))
    client.get(url)
    return client.post(url, {**data, "csrfmiddlewaretoken": client.cookies["csrftoken"].value}, follow=True)


def test_a_new_address_changes_nothing_until_its_link_is_confirmed_from_the_new_address(
    alice, django_capture_on_commit_callbacks
):
    old_links = email_links(welcome_for(alice))
    with django_capture_on_commit_callbacks(execute=True):
        response = preferences_post(alice, {"action": "address", "email": "Alice.New@Example.org"})
    assert b"We sent a link to alice.new@example.org" in response.content
    alice.refresh_from_db()
    assert alice.email == "alice@example.com", "nothing changes before the confirmation"
    assert len(outbox_to("alice@example.com")) == 1, "only the welcome at the old address"
    (confirm,) = outbox_to("alice.new@example.org")
    assert confirm.subject == "Confirm your new address for Test course"
    assert "alice@example.com" not in confirm.text, "the new address's reader is not told the old one"
    requested = Event.objects.get(subscriber=alice, what=Event.What.EMAIL_CHANGE_REQUESTED)
    assert (requested.before, requested.after) == ("alice@example.com", "alice.new@example.org")

    url = path_of(re.search(r"https://\S+/address/\S+/", confirm.text)[0])
    client = Client(enforce_csrf_checks=True)
    page = client.get(url)
    assert b"Use this address for your course?" in page.content
    alice.refresh_from_db()
    assert alice.email == "alice@example.com", "opening the link (a mail scanner) changes nothing"

    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(url, {"csrfmiddlewaretoken": client.cookies["csrftoken"].value})
    assert b"Your course now comes here" in done.content
    alice.refresh_from_db()
    assert (alice.email, alice.link_generation) == ("alice.new@example.org", 1)
    event = Event.objects.get(subscriber=alice, what=Event.What.EMAIL_CHANGED)
    assert (event.before, event.after, event.actor) == ("alice@example.com", "alice.new@example.org", "reader")
    (notice,) = outbox_to("alice@example.com")[1:]
    assert "now go to alice.new@example.org" in notice.text

    assert Client().get(path_of(old_links["preferences"])).status_code == 403, "links sent to the old address"
    new_prefs = re.search(r'href="(https://[^"]+/p/[^"]+/)"', done.content.decode())[1]
    assert Client().get(path_of(new_prefs)).status_code == 200
    again = client.post(url, {"csrfmiddlewaretoken": client.cookies["csrftoken"].value})
    assert b"This link has been used" in again.content
    alice.refresh_from_db()
    assert Event.objects.filter(subscriber=alice, what=Event.What.EMAIL_CHANGED).count() == 1


def test_a_new_address_link_expires_and_an_address_already_in_the_course_is_refused(alice, bob):
    url = path_of(links.new_address_url(alice, "bob@example.com"))
    client = Client()
    client.get(url)
    response = client.post(url)
    assert response.status_code == 409 and b"bob@example.com already receives this course" in response.content
    alice.refresh_from_db()
    assert alice.email == "alice@example.com"

    url = path_of(links.new_address_url(alice, "alice2@example.com"))
    with later(2.1):
        response = Client().post(url)
    assert response.status_code == 403 and b"This link has expired" in response.content
    alice.refresh_from_db()
    assert alice.email == "alice@example.com"


def test_the_new_address_form_refuses_the_same_address_and_more_than_three_a_day(alice):
    response = preferences_post(alice, {"action": "address", "email": "alice@example.com"})
    assert b"That is already your course&#x27;s address." in response.content
    for n in range(3):
        assert b"We sent a link" in preferences_post(alice, {"action": "address", "email": f"a{n}@example.com"}).content
    response = preferences_post(alice, {"action": "address", "email": "a9@example.com"})
    assert b"That is enough new addresses for today" in response.content
    assert Event.objects.filter(subscriber=alice, what=Event.What.EMAIL_CHANGE_REQUESTED).count() == 3


# --- Stage and profile -------------------------------------------------------------------------


def test_a_reader_changes_their_stage_on_the_page_and_it_is_audited(alice):
    response = preferences_post(alice, {"action": "stage", "stage": "interviewing"})
    assert b"Your stage is now 4, Interviewing. Your next email follows it." in response.content
    alice.refresh_from_db()
    assert (alice.stage, alice.stage_reported_at) == ("interviewing", timezone.now())
    event = Event.objects.get(subscriber=alice, what=Event.What.STAGE_CHANGED)
    assert (event.before, event.after, event.actor, event.why) == ("deciding", "interviewing", "reader",
                                                                   "preferences page")  # fmt: skip
    response = preferences_post(alice, {"action": "stage", "stage": "stage-9"})
    assert b"Choose one of the stages." in response.content


def test_a_reader_edits_their_profile_and_each_answer_changed_is_audited(alice):
    page = Client().get(path_of(preferences_url(alice))).content.decode()
    checked = re.findall(r'<input type="radio" name="(license_plan|pay_need)" value="([^"]+)"[^>]* checked', page)
    assert checked == [("license_plan", "unsure"), ("pay_need", "unsure")], "the page shows her answers"
    answers = {"profession": "rn", "specialty": "  ICU   nurse ", "license_plan": "keep", "pay_need": "unsure"}
    response = preferences_post(alice, {"action": "profile", **answers})
    assert b"Saved your profession, role and specialty and license." in response.content
    alice.refresh_from_db()
    assert (alice.profession, alice.specialty, alice.license_plan, alice.pay_need) == ("rn", "ICU nurse", "keep",
                                                                                      "unsure")  # fmt: skip
    assert sorted(Event.objects.filter(subscriber=alice).exclude(what="enrolled").values_list("what", "after")) == [
        ("license_plan_changed", "keep"),
        ("profession_changed", "rn"),
        ("specialty_changed", "ICU nurse"),
    ]
    again = preferences_post(alice, {"action": "profile", **answers})
    assert b"Nothing changed." in again.content

    bad = preferences_post(alice, {"action": "profile", **answers, "pay_need": "millions", "specialty": ""})
    assert b"Please fix this" in bad.content
    assert b"Tell us your current role and specialty." in bad.content
    alice.refresh_from_db()
    assert (alice.pay_need, alice.specialty) == ("unsure", "ICU nurse")


def test_the_archived_welcome_links_its_plan_with_the_link_it_was_opened_with(db):
    from lessons.importing import import_path
    from tests.conftest import SHIPPED_CONTENT, enrol

    (report,) = import_path(SHIPPED_CONTENT / "clinical-to-non-clinical")
    reader = enrol(report.course, "ines@example.com", first_name="Ines", destination="payer", time_zone="UTC")
    welcome_for(reader)
    with later(20):  # a fresh link, weeks after the welcome went out, opened a day later
        token = links.preferences_token(reader)
    with later(21):
        html = Client().get(f"/p/{token}/lessons/welcome/").content.decode()
    assert f"/p/{token}/plan/" in html, "the welcome's plan, as a link"
    assert set(re.findall(r"/p/([^/\"]+)/", html)) == {token}
