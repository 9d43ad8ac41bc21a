"""Flow 7: list headers and footer on every course email, one-click unsubscribe (RFC 8058), the
signed preferences page and the reader's lesson archive."""

from __future__ import annotations

import base64
import re
import urllib.request
from datetime import timedelta
from email.utils import parseaddr

import pytest
import time_machine
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from course.schedule import zone
from subscribers.models import Delivery, Event, Subscriber
from subscribers.readers import changes
from subscribers.readers.addresses import unsubscribe_address
from subscribers.readers.links import preferences_url
from subscribers.sending import drip, esp_payloads
from tests.conftest import outbox_to

WEBHOOK_AUTH = {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(b"esp:webhook-password").decode()}


@pytest.fixture(autouse=True)
def https_site(settings):
    settings.SITE_URL = "https://course.example.com"
    settings.SENDER_POSTAL_ADDRESS = "Pivot Path, 100 Main Street, Suite 5, Portland, OR 97205, USA"


def welcome_for(reader: Subscriber):
    assert drip.send_delivery(drip.tick(queue=False).delivery_ids[0]) == "sent"
    return outbox_to(reader.email)[-1]


def path_of(url: str) -> str:
    return url.removeprefix("https://course.example.com")


def test_every_course_email_carries_one_click_unsubscribe_list_id_and_our_message_id(alice):
    welcome = welcome_for(alice)

    urls = re.findall(r"<([^>]+)>", welcome.headers["List-Unsubscribe"])
    assert urls == [
        f"{preferences_url(alice)}unsubscribe/",
        f"mailto:{unsubscribe_address(alice.pk)}?subject=unsubscribe",
    ]
    assert urls[0].startswith("https://course.example.com/p/")
    assert welcome.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert welcome.headers["List-Id"] == "Test course <test-course.pivotpath.localhost>"
    assert welcome.message_id.endswith("@pivotpath.localhost>")
    assert Delivery.objects.get().message_id == welcome.message_id


def test_the_footer_says_why_gives_the_postal_address_and_links_preferences_and_unsubscribe(alice):
    welcome = welcome_for(alice)
    prefs = preferences_url(alice)

    for part in (welcome.text, welcome.html):
        assert "You get this email because you enrolled in Test course." in part
        assert "100 Main Street, Suite 5, Portland, OR 97205" in part
        assert prefs in part
        assert f"{prefs}unsubscribe/" in part


def test_a_one_click_post_from_a_bare_http_client_unsubscribes(transactional_db, live_server, alice, settings):
    settings.SITE_URL = live_server.url
    url = re.findall(r"<([^>]+)>", welcome_for(alice).headers["List-Unsubscribe"])[0]

    # What a mailbox provider sends (RFC 8058): no cookie, no CSRF token, just the body.
    request = urllib.request.Request(url, data=b"List-Unsubscribe=One-Click", method="POST")
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        assert "You are unsubscribed" in response.read().decode()

    alice.refresh_from_db()
    assert (alice.status, alice.next_send_at) == ("unsubscribed", None)
    event = Event.objects.get(subscriber=alice, what="status_changed", after="unsubscribed")
    assert (event.actor, event.why) == ("reader", "one-click unsubscribe (List-Unsubscribe-Post)")


def test_a_get_of_the_unsubscribe_link_asks_and_changes_nothing(alice):
    response = Client(enforce_csrf_checks=True).get(path_of(f"{preferences_url(alice)}unsubscribe/"))

    assert response.status_code == 200
    assert b"Unsubscribe from Test course?" in response.content
    alice.refresh_from_db()
    assert alice.status == "active"
    assert not Event.objects.filter(subscriber=alice, what="status_changed").exists()


def test_after_unsubscribing_nothing_more_is_sent(alice):
    welcome_for(alice)
    Client().post(path_of(f"{preferences_url(alice)}unsubscribe/"), {"List-Unsubscribe": "One-Click"})
    Client().post(path_of(f"{preferences_url(alice)}unsubscribe/"))  # a second click changes nothing more

    with time_machine.travel(timezone.now() + timedelta(days=30), tick=False):
        assert drip.tick(queue=False).planned == 0
    assert len(outbox_to("alice@example.com")) == 1
    assert Event.objects.filter(subscriber=alice, what="status_changed").count() == 1


def test_mail_to_the_unsubscribe_address_unsubscribes_without_a_confirmation(
    alice, client, settings, eager_tasks, django_capture_on_commit_callbacks
):
    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": ["esp:webhook-password"]}
    welcome_for(alice)
    mailto = parseaddr(re.findall(r"<mailto:([^?>]+)", outbox_to(alice.email)[-1].headers["List-Unsubscribe"])[0])[1]
    raw = esp_payloads.reply_mime(
        sender="alice@example.com", to=mailto, subject="unsubscribe", in_reply_to="",
        quoted_from="", quoted_text="", text="This message was automatically generated by Gmail.",
    )  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        body = esp_payloads.postmark(raw).body
        assert client.post("/anymail/postmark/inbound/", body, "application/json", **WEBHOOK_AUTH).status_code == 200

    alice.refresh_from_db()
    assert alice.status == "unsubscribed"
    assert (
        Event.objects.get(subscriber=alice, after="unsubscribed").why
        == "unsubscribe by email (List-Unsubscribe mailto)"
    )
    assert len(outbox_to("alice@example.com")) == 1, "no confirmation email"


@pytest.mark.parametrize("suffix", ["", "unsubscribe/", "lessons/welcome/"])
def test_a_tampered_link_gets_a_clear_404_and_changes_nothing(alice, suffix):
    url = preferences_url(alice)
    token = url.rstrip("/").rsplit("/", 1)[1]
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")

    for method in ("get", "post") if "lessons" not in suffix else ("get",):
        response = getattr(Client(), method)(f"/p/{tampered}/{suffix}")
        assert response.status_code == 404
        assert b"This link is not valid" in response.content
    alice.refresh_from_db()
    assert alice.status == "active"


def page_form(client: Client, alice: Subscriber) -> tuple[str, str]:
    url = path_of(preferences_url(alice))
    response = client.get(url)
    assert response.status_code == 200
    return url, client.cookies["csrftoken"].value


def test_the_preferences_forms_need_the_csrf_token(alice):
    client = Client(enforce_csrf_checks=True)
    url = path_of(preferences_url(alice))
    assert client.post(url, {"action": "pause"}).status_code == 403
    alice.refresh_from_db()
    assert alice.status == "active"


def test_a_reader_pauses_and_resumes_from_the_page_and_each_change_is_audited(alice):
    client = Client(enforce_csrf_checks=True)
    url, csrf = page_form(client, alice)

    response = client.post(url, {"action": "pause", "csrfmiddlewaretoken": csrf}, follow=True)
    assert b"Your course is paused" in response.content
    alice.refresh_from_db()
    assert (alice.status, alice.next_send_at) == ("paused", None)

    with time_machine.travel(timezone.now() + timedelta(days=10), tick=False):
        response = client.post(url, {"action": "resume", "csrfmiddlewaretoken": csrf}, follow=True)
        assert b"Your course is back on" in response.content
    alice.refresh_from_db()
    assert alice.status == "active" and alice.next_send_at is not None
    assert alice.paused_slots >= 1  # ten days paused: at least one weekly slot went by
    assert list(Event.objects.filter(subscriber=alice, what="status_changed").values_list("after", "actor")) == [
        ("active", "reader"),
        ("paused", "reader"),
    ]


def test_a_reader_changes_track_and_the_next_email_follows_it(bob):
    client = Client(enforce_csrf_checks=True)
    url, csrf = page_form(client, bob)
    response = client.post(url, {"action": "track", "destination": "payer", "csrfmiddlewaretoken": csrf}, follow=True)

    assert b"Your track is now Payer" in response.content
    bob.refresh_from_db()
    assert bob.destination == "payer"
    assert Event.objects.get(subscriber=bob, what="destination_changed").after == "payer"
    welcome_for(bob)
    bob.refresh_from_db()
    with time_machine.travel(bob.next_send_at, tick=False):
        (delivery_id,) = drip.tick(queue=False).delivery_ids
        drip.send_delivery(delivery_id)
    assert outbox_to("bob@example.com")[-1].subject == "Only for the payer track"


def test_a_new_time_zone_hour_and_day_move_the_next_email_and_the_schedule_preview(alice, capsys):
    welcome_for(alice)
    client = Client(enforce_csrf_checks=True)
    url, csrf = page_form(client, alice)
    data = {"action": "timing", "send_weekday": "3", "send_hour": "19", "time_zone": "Europe/Lisbon"}
    response = client.post(url, {**data, "csrfmiddlewaretoken": csrf}, follow=True)

    assert b"Your email now arrives Thursday 19:00 Europe/Lisbon" in response.content
    alice.refresh_from_db()
    local = alice.next_send_at.astimezone(zone("Europe/Lisbon"))
    assert (local.weekday(), local.hour, local.minute) == (3, 19, 0)
    assert alice.next_send_at - timezone.now() >= timedelta(days=5), "never two course emails within six days"
    event = Event.objects.get(subscriber=alice, what="timing_changed")
    weekday = changes.WEEKDAYS[alice.enrolled_at.astimezone(zone("America/New_York")).weekday()]
    assert (event.before, event.after) == (f"{weekday} 08:00 America/New_York", "Thursday 19:00 Europe/Lisbon")

    call_command("preview_schedule", alice.email, "--weeks", "2")
    assert "Thu" in capsys.readouterr().out


def test_a_bad_time_zone_is_refused_with_a_clear_error_and_nothing_changes(alice):
    client = Client(enforce_csrf_checks=True)
    url, csrf = page_form(client, alice)
    data = {
        "action": "timing",
        "send_weekday": "3",
        "send_hour": "19",
        "time_zone": "Mars/Olympus",
        "csrfmiddlewaretoken": csrf,
    }
    response = client.post(url, data)

    assert response.status_code == 200
    assert b"Time zone: Choose a time zone from the list." in response.content
    alice.refresh_from_db()
    assert alice.time_zone == "America/New_York"


def test_the_archive_shows_a_lesson_the_reader_was_sent_and_not_one_they_were_not(alice):
    welcome_for(alice)
    base = path_of(preferences_url(alice))

    response = Client().get(f"{base}lessons/welcome/")
    assert response.status_code == 200
    assert b"Alice" in response.content
    page = Client().get(base)
    assert b"Welcome, Alice" in page.content

    missing = Client().get(f"{base}lessons/payer-only/")
    assert missing.status_code == 404
    assert b"not in your archive yet" in missing.content


def test_a_suppressed_reader_sees_why_and_cannot_resume(alice):
    changes.suppress(alice, actor="esp:postmark", why="hard bounce")
    client = Client()
    url = path_of(preferences_url(alice))
    page = client.get(url)
    assert b"We stopped sending to this address" in page.content
    assert b"Resume the course" not in page.content

    response = client.post(url, {"action": "resume"}, follow=True)
    assert b"That cannot be changed: the reader is suppressed." in response.content
    alice.refresh_from_db()
    assert alice.status == "suppressed"
