"""Check-ins by reply, end to end: the reply address, the real anymail webhooks, processing,
confirmation and undo, course time, the review queue and the dev outbox's reply form."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.utils import timezone

from subscribers.models import Event, OutboxMessage, Reply, Subscriber
from subscribers.readers import changes
from subscribers.readers.addresses import ReplyTarget, find_target, read_token, reply_address, reply_token
from subscribers.readers.course_time import clock_of
from subscribers.replies import inbound
from subscribers.sending import drip, esp_payloads
from tests.conftest import AUTH, SIGNING_KEY, enrol, outbox_to, send_checkin


@pytest.fixture(autouse=True)
def _webhooks(webhook_secret) -> None:
    """Every webhook in this module presents AUTH."""


def a_reply(reader: Subscriber, delivery, text: str, *, sender: str | None = None, to: str | None = None) -> bytes:
    checkin = outbox_to(reader.email)[-1]
    return esp_payloads.reply_mime(
        sender=sender or reader.email, to=to or reply_address(reader.pk, delivery.pk), subject=checkin.subject,
        in_reply_to=checkin.message_id, quoted_from=checkin.from_email, quoted_text=checkin.text, text=text,
    )  # fmt: skip


def post(client, payload: esp_payloads.Payload, auth=AUTH):
    return client.generic(
        "POST", payload.path, payload.body, content_type=payload.content_type,
        **{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in payload.headers.items()}, **auth,
    )  # fmt: skip


def reply_by_postmark(client, django_capture_on_commit_callbacks, raw: bytes):
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, esp_payloads.postmark(raw))
    assert response.status_code == 200, response.content
    return response


def test_it_puts_a_signed_reply_address_naming_the_reader_and_the_email_on_every_course_email(carol):
    welcome_delivery = drip.tick(queue=False).delivery_ids[0]
    drip.send_delivery(welcome_delivery)
    delivery = send_checkin(carol)
    welcome, checkin = outbox_to("carol@example.com")

    for email, sent in ((welcome, welcome_delivery), (checkin, delivery.pk)):
        (address,) = email.reply_to
        token = re.fullmatch(r"reply\+([a-z2-7]+)@reply\.pivotpath\.localhost", address)[1]
        assert len(token) <= 56
        assert read_token(token) == ReplyTarget(carol.pk, sent)
        assert email.headers["Reply-To"] == address


def test_a_reply_address_from_before_every_email_had_one_still_reads(carol):
    delivery = send_checkin(carol)
    old_style = reply_address(carol.pk, delivery.pk).replace("reply+", "checkin+", 1)

    assert find_target([old_style]) == ReplyTarget(carol.pk, delivery.pk)


def test_a_tampered_or_foreign_token_reads_as_nothing(settings):
    token = reply_token(7, 42)
    flipped = token[:-1] + ("a" if token[-1] != "a" else "b")
    assert read_token(token).subscriber_id == 7
    assert read_token(token.upper()).delivery_id == 42
    assert read_token(flipped) is None
    assert read_token(token[:-3]) is None
    settings.SECRET_KEY = "another-installation-secret-key-0123456789-abcdefghijkl"
    assert read_token(token) is None


def test_a_reply_moves_the_reader_confirms_and_can_be_undone(
    carol, client, eager_tasks, django_capture_on_commit_callbacks
):
    delivery = send_checkin(carol)
    raw = a_reply(carol, delivery, "I've started interviewing, leaning toward pharma")

    reply_by_postmark(client, django_capture_on_commit_callbacks, raw)

    carol.refresh_from_db()
    assert (carol.stage, carol.destination) == ("interviewing", "medical-affairs")
    reply = Reply.objects.get()
    assert (reply.status, reply.subscriber, reply.delivery) == (Reply.Status.APPLIED, carol, delivery)
    assert reply.new_text == "I've started interviewing, leaning toward pharma"
    assert {(e.what, e.before, e.after, e.actor) for e in Event.objects.filter(why__startswith="reply")} == {
        ("stage_changed", "deciding", "interviewing", "reader"),
        ("destination_changed", "undecided", "medical-affairs", "reader"),
    }
    confirmation = outbox_to("carol@example.com")[-1]
    assert "We read your reply as: stage 4, interviewing; destination medical affairs." in confirmation.text
    assert confirmation.headers["In-Reply-To"] == reply.message_id
    undo_url = re.search(r"Undo: (\S+)", confirmation.text)[1]
    undo_path = undo_url.removeprefix("http://127.0.0.1:8000")

    assert "Undo this change" in client.get(undo_path).text  # a link scanner's GET changes nothing
    carol.refresh_from_db()
    assert carol.stage == "interviewing"

    assert "put things back" in client.post(undo_path).text
    assert "already undone" in client.post(undo_path).text  # idempotent
    carol.refresh_from_db()
    assert (carol.stage, carol.destination) == ("deciding", "undecided")
    assert Event.objects.filter(why=f"undo of reply {reply.pk}").count() == 2
    assert client.get("/reply/undo/not-a-token/").status_code == 404


def test_the_next_email_follows_the_reply(carol, client, eager_tasks, django_capture_on_commit_callbacks):
    with time_machine.travel(carol.enrolled_at, tick=False) as traveller:
        drip.send_delivery(drip.tick(queue=False).delivery_ids[0])  # the welcome
        for _ in range(5):  # weekly lessons until the check-in comes due in week 4
            carol.refresh_from_db()
            traveller.move_to(carol.next_send_at)
            for delivery_id in drip.tick(queue=False).delivery_ids:
                drip.send_delivery(delivery_id)
            if outbox_to("carol@example.com")[-1].subject == "Check-in: where are you now?":
                break
        checkin_id = carol.deliveries.get(lesson__kind="checkin").pk
        assert outbox_to("carol@example.com")[-1].subject == "Check-in: where are you now?"

        raw = a_reply(carol, carol.deliveries.get(pk=checkin_id), "4")
        reply_by_postmark(client, django_capture_on_commit_callbacks, raw)

        carol.refresh_from_db()
        traveller.move_to(carol.next_send_at)
        (next_id,) = drip.tick(queue=False).delivery_ids
        drip.send_delivery(next_id)
    assert outbox_to("carol@example.com")[-1].subject == "Only for interviewing readers"


def test_duplicates_forged_tokens_and_auto_replies_change_nothing(
    carol, client, eager_tasks, django_capture_on_commit_callbacks
):
    delivery = send_checkin(carol)
    genuine = a_reply(carol, delivery, "3")
    reply_by_postmark(client, django_capture_on_commit_callbacks, genuine)
    reply_by_postmark(client, django_capture_on_commit_callbacks, genuine)  # the ESP retries
    assert Reply.objects.count() == 1

    forged_address = reply_address(carol.pk, delivery.pk).replace("reply+", "reply+a")
    reply_by_postmark(client, django_capture_on_commit_callbacks, a_reply(carol, delivery, "5", to=forged_address))
    out_of_office = a_reply(carol, delivery, "I am out of the office until Monday 5 March.").replace(
        b"Subject: Re:", b"Auto-Submitted: auto-replied\nSubject: Re:"
    )
    reply_by_postmark(client, django_capture_on_commit_callbacks, out_of_office)

    carol.refresh_from_db()
    assert carol.stage == "searching"
    statuses = dict(Reply.objects.values_list("reason", "status").exclude(status=Reply.Status.APPLIED))
    assert set(statuses.values()) == {Reply.Status.IGNORED}
    assert any("valid reply address" in reason for reason in statuses)
    assert any("Auto-Submitted" in reason for reason in statuses)


def test_a_reply_from_another_address_goes_to_review(carol, client, eager_tasks, django_capture_on_commit_callbacks):
    delivery = send_checkin(carol)
    raw = a_reply(carol, delivery, "5", sender="someone.else@example.org")
    reply_by_postmark(client, django_capture_on_commit_callbacks, raw)

    carol.refresh_from_db()
    reply = Reply.objects.get()
    assert carol.stage == "deciding"
    assert reply.status == Reply.Status.REVIEW
    assert "someone.else@example.org" in reply.reason
    assert reply.understood["stage"] == "landed"


def test_pause_and_resume_keep_course_time(checkin_course):
    monday = datetime(2026, 3, 2, 14, tzinfo=UTC)  # Monday 08:00 in Chicago (CST)
    with time_machine.travel(monday, tick=False) as traveller:
        dana = enrol(checkin_course, "dana@example.com", first_name="Dana", time_zone="America/Chicago", send_hour=7)
        traveller.move_to(datetime(2026, 3, 3, 15, tzinfo=UTC))  # Tuesday
        changes.pause(dana, actor="reader", why="test")
        dana.refresh_from_db()
        assert (dana.status, dana.paused_at, dana.next_send_at) == ("paused", timezone.now(), None)
        traveller.move_to(datetime(2026, 3, 13, 15, tzinfo=UTC))  # the Friday after next
        changes.resume(dana, actor="reader", why="test")
    dana.refresh_from_db()
    assert dana.status == "active"
    assert dana.paused_at is None
    assert dana.paused_slots == 1  # Monday 9 March went by while paused
    assert dana.next_send_at == datetime(2026, 3, 16, 12, tzinfo=UTC)  # Monday 07:00 in Chicago, now CDT
    assert clock_of(dana).week(dana.next_send_at) == 1  # one week after the welcome, not three
    assert list(Event.objects.filter(subscriber=dana, what="status_changed").values_list("before", "after")) == [
        ("paused", "active"),
        ("active", "paused"),
    ]


def test_reply_commands_pause_resume_and_stop(carol, client, eager_tasks, django_capture_on_commit_callbacks):
    delivery = send_checkin(carol)
    for text, status in (("pause please", "paused"), ("resume", "active"), ("Unsubscribe", "unsubscribed")):
        reply_by_postmark(client, django_capture_on_commit_callbacks, a_reply(carol, delivery, text))
        carol.refresh_from_db()
        assert carol.status == status
    assert "You will get no more course emails." in outbox_to("carol@example.com")[-1].text


@pytest.mark.urls("tests.inbound_urls")
def test_mailgun_inbound_is_verified_by_its_signature(carol, client, eager_tasks, django_capture_on_commit_callbacks):
    delivery = send_checkin(carol)
    good = esp_payloads.mailgun(a_reply(carol, delivery, "stage 2"), SIGNING_KEY)
    bad = esp_payloads.mailgun(a_reply(carol, delivery, "stage 5"), "not-the-key")

    assert post(client, bad).status_code == 400
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, good).status_code == 200

    carol.refresh_from_db()
    assert carol.stage == "conversations"
    assert Reply.objects.get().esp == "Mailgun"


@pytest.mark.urls("tests.inbound_urls")
def test_amazon_ses_inbound_arrives_as_an_sns_notification(
    carol, client, eager_tasks, django_capture_on_commit_callbacks
):
    delivery = send_checkin(carol)
    payload = esp_payloads.amazon_ses(a_reply(carol, delivery, "Switch me to payer please"))
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, payload).status_code == 200
    carol.refresh_from_db()
    assert carol.destination == "payer"
    assert Reply.objects.get().esp == "Amazon SES"


@pytest.mark.urls("tests.inbound_urls")
@pytest.mark.parametrize("esp", ["postmark", "mailgun", "amazon_ses"])
def test_every_inbound_webhook_needs_the_basic_auth_secret(carol, client, esp):
    delivery = send_checkin(carol)
    payload = esp_payloads.BUILDERS[esp](a_reply(carol, delivery, "3"))
    wrong = {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(b"esp:wrong").decode()}
    assert post(client, payload, auth={}).status_code in (400, 401)
    assert post(client, payload, auth=wrong).status_code == 400
    assert Reply.objects.count() == 0


def test_malformed_webhook_posts_get_a_clear_answer_and_store_nothing(client, db):
    response = client.post("/anymail/postmark/inbound/", "{not json", content_type="application/json", **AUTH)
    assert response.status_code == 400
    assert Reply.objects.count() == 0


def test_the_review_queue_applies_or_dismisses_each_audited(
    carol, client, admin_user, eager_tasks, django_capture_on_commit_callbacks, settings
):
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    delivery = send_checkin(carol)
    for text in ("2 or 3", "Could we talk about this on the phone?"):
        reply_by_postmark(client, django_capture_on_commit_callbacks, a_reply(carol, delivery, text))
    unclear, vague = Reply.objects.order_by("pk")
    assert unclear.status == vague.status == Reply.Status.REVIEW
    assert unclear.reason == "two stage numbers: 2 and 3"
    client.force_login(admin_user)

    page = client.get(f"/admin/subscribers/reply/{unclear.pk}/change/")
    assert "two stage numbers" in page.text and "2 or 3" in page.text
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            "/admin/subscribers/reply/", {"action": "apply_stage_3", "_selected_action": [unclear.pk]}, follow=True
        )
        client.post("/admin/subscribers/reply/", {"action": "dismiss", "_selected_action": [vague.pk]}, follow=True)

    carol.refresh_from_db()
    unclear.refresh_from_db()
    vague.refresh_from_db()
    assert carol.stage == "searching"
    assert (unclear.status, vague.status) == (Reply.Status.APPLIED, Reply.Status.DISMISSED)
    actor = f"admin:{admin_user.get_username()}"
    assert set(Event.objects.filter(actor=actor).values_list("what", flat=True)) == {
        "stage_changed",
        "reply_resolved",
        "reply_dismissed",
    }
    assert "stage 3, searching" in outbox_to("carol@example.com")[-1].text


@pytest.mark.django_db(transaction=True)
def test_the_outbox_reply_form_posts_to_the_real_webhook_over_http(checkin_course, live_server, settings, client):
    from tests.conftest import enrol

    settings.SITE_URL = live_server.url
    settings.OUTBOX_PAGE_ENABLED = True
    reader = enrol(checkin_course, "dana@example.com", first_name="Dana")
    send_checkin(reader)
    checkin = OutboxMessage.objects.get(recipient="dana@example.com")

    page = client.get(f"/dev/outbox/{checkin.pk}/")
    assert "Reply to this" in page.text
    response = client.post(f"/dev/outbox/{checkin.pk}/reply/", {"text": "I got an offer! Going with payer."})

    assert response.status_code == 302
    reply = Reply.objects.get()
    assert reply.esp == "Postmark"
    assert reply.sender == "dana@example.com"
    inbound.process(reply.pk)  # what the worker does
    reader.refresh_from_db()
    assert (reader.stage, reader.destination) == ("interviewing", "payer")
    assert "interviewing" in client.get(f"/dev/outbox/{checkin.pk}/").text


def test_a_reply_whose_task_was_lost_is_queued_again(carol, eager_tasks):
    delivery = send_checkin(carol)
    from anymail.inbound import AnymailInboundMessage

    with time_machine.travel(timezone.now() - timedelta(minutes=10), tick=False):
        reply = inbound.store(AnymailInboundMessage.parse_raw_mime_bytes(a_reply(carol, delivery, "2")))
    assert reply.status == Reply.Status.RECEIVED  # its on_commit never ran: the broker was down
    assert inbound.queue_stale() == 1
    carol.refresh_from_db()
    assert carol.stage == "conversations"


@pytest.fixture
def admin_user(db):
    return get_user_model().objects.create_superuser("reviewer", "reviewer@example.com", "a-long-password-123")


def test_a_reply_can_change_the_license_plan_and_pay_need_audited_and_undoable(
    carol, client, eager_tasks, django_capture_on_commit_callbacks
):
    delivery = send_checkin(carol)
    raw = a_reply(carol, delivery, "I've decided to keep my license. We can't take a pay cut though.")

    reply_by_postmark(client, django_capture_on_commit_callbacks, raw)

    carol.refresh_from_db()
    assert (carol.license_plan, carol.pay_need) == ("keep", "match")
    assert set(Event.objects.filter(why__startswith="reply").values_list("what", "before", "after")) == {
        ("license_plan_changed", "unsure", "keep"),
        ("pay_need_changed", "unsure", "match"),
    }
    confirmation = outbox_to("carol@example.com")[-1]
    assert "license: keep it active" in confirmation.text and "pay: we need my current pay" in confirmation.text
    undo_path = re.search(r"Undo: (\S+)", confirmation.text)[1].removeprefix("http://127.0.0.1:8000")
    client.post(undo_path)
    carol.refresh_from_db()
    assert (carol.license_plan, carol.pay_need) == ("unsure", "unsure")
