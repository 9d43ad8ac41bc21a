"""Every course email is a conversation: a reply to any of them lands on the reader's thread, the
reader always hears back (a confirmation, or one short acknowledgement a day), and the admin's
answer from the inbox goes out threaded, so the reader's next reply lands in the same thread."""

from __future__ import annotations

from datetime import timedelta
from email.utils import getaddresses

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.utils import timezone

from lessons.models import Lesson
from subscribers.models import Conversation, ConversationMessage, Delivery, Event, OutboxMessage, Reply
from subscribers.readers.addresses import find_target, reply_address
from subscribers.replies import conversations, inbound
from subscribers.sending import drip, esp_payloads
from tests.conftest import AUTH, operator, outbox_to, send_checkin

Kind = ConversationMessage.Kind


@pytest.fixture(autouse=True)
def _webhooks(webhook_secret, eager_tasks) -> None:
    """Webhooks present AUTH; queued tasks (processing, confirmations, thread emails) run in-process."""


@pytest.fixture
def admin_user(db):
    return get_user_model().objects.create_superuser("maria", "maria@example.com", "a-long-password-123")


def send_lesson(reader, slug: str = "lesson-1") -> Delivery:
    lesson = Lesson.objects.get(course=reader.course, slug=slug)
    delivery = Delivery.objects.create(
        subscriber=reader, lesson=lesson, version=lesson.current_version, due_at=reader.enrolled_at
    )
    assert drip.send_delivery(delivery.pk) == "sent"
    return delivery


def reply_to(client, django_capture_on_commit_callbacks, email: OutboxMessage, text: str, *, sender=None) -> Reply:
    """The reader answers `email` from their mail client (Reply-To, In-Reply-To), through Postmark's webhook."""
    raw = esp_payloads.reply_mime(
        sender=sender or email.recipient, to=email.reply_to[0], subject=email.subject, in_reply_to=email.message_id,
        quoted_from=email.from_email, quoted_text=email.text, text=text,
    )  # fmt: skip
    payload = esp_payloads.postmark(raw)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(payload.path, payload.body, content_type=payload.content_type, **AUTH)
    assert response.status_code == 200, response.content
    return Reply.objects.order_by("-id").first()


def test_a_question_replied_to_a_lesson_lands_on_the_thread_and_is_acknowledged_once(
    carol, client, django_capture_on_commit_callbacks
):
    send_lesson(carol)
    lesson_email = outbox_to(carol.email)[-1]

    reply = reply_to(client, django_capture_on_commit_callbacks, lesson_email, "How long should my resume be?")

    reply.refresh_from_db()
    assert (reply.status, reply.reason) == ("review", "the reader asks a question")
    assert reply.delivery.lesson.slug == "lesson-1"
    thread = Conversation.objects.get(subscriber=carol)
    assert (thread.unread, thread.needs_answer) == (True, True)
    assert [m.kind for m in thread.messages.all()] == [Kind.REPLY, Kind.ACKNOWLEDGEMENT]
    assert thread.messages.get(kind=Kind.REPLY).body == "How long should my resume be?"
    ack = outbox_to(carol.email)[-1]
    assert ack.subject == f"Re: {lesson_email.subject}"
    assert "A person reads every reply: you'll hear back within 2 days." in ack.text
    assert "Thanks for your message." in ack.text and "could not tell" not in ack.text  # a question, not a muddle
    assert ack.headers["In-Reply-To"] == reply.message_id
    assert lesson_email.message_id in ack.headers["References"]
    assert ack.headers["Auto-Submitted"] == "auto-replied"
    assert find_target(ack.reply_to).subscriber_id == carol.pk
    assert "Pivot Path &middot;" in ack.html or "Pivot Path ·" in ack.html  # the course's email layout
    assert "font-family" in ack.html

    # A second question the same day: on the thread, but no second acknowledgement.
    reply_to(client, django_capture_on_commit_callbacks, lesson_email, "Also: is a cover letter needed?")
    assert OutboxMessage.objects.filter(recipient=carol.email).count() == 2
    assert thread.messages.filter(kind=Kind.REPLY).count() == 2

    # The next day, a reply sent to review is acknowledged again.
    with time_machine.travel(timezone.now() + timedelta(days=1, minutes=1), tick=False):
        reply_to(client, django_capture_on_commit_callbacks, lesson_email, "I'm between 2 and 3 honestly")
    latest = outbox_to(carol.email)[-1]
    assert "could not tell for certain what to change" in latest.text


def test_the_reader_hears_nothing_back_for_thanks_an_auto_reply_or_a_stranger(
    carol, client, django_capture_on_commit_callbacks
):
    send_lesson(carol)
    lesson_email = outbox_to(carol.email)[-1]

    reply_to(client, django_capture_on_commit_callbacks, lesson_email, "Thanks!")
    reply_to(client, django_capture_on_commit_callbacks, lesson_email, "What is this?", sender="boss@example.com")
    raw = esp_payloads.reply_mime(
        sender=carol.email, to=lesson_email.reply_to[0], subject="Automatic reply: out of the office",
        in_reply_to=lesson_email.message_id, quoted_from=lesson_email.from_email, quoted_text="", text="I'm away.",
    )  # fmt: skip
    payload = esp_payloads.postmark(raw)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(payload.path, payload.body, content_type=payload.content_type, **AUTH)

    assert OutboxMessage.objects.filter(recipient=carol.email).count() == 1  # only the lesson
    thread = Conversation.objects.get(subscriber=carol)
    bodies = list(thread.messages.values_list("body", "author"))
    assert bodies == [("Thanks!", "reader"), ("What is this?", "boss@example.com")]  # the auto-reply is not on it
    assert Reply.objects.get(subject__contains="Automatic reply").status == "ignored"


def test_a_reply_that_changes_something_and_asks_is_confirmed_with_the_promise_of_an_answer(
    carol, client, django_capture_on_commit_callbacks
):
    send_checkin(carol)
    checkin = outbox_to(carol.email)[-1]

    reply = reply_to(
        client, django_capture_on_commit_callbacks, checkin, "3\n\nAlso, do you have tips for salary negotiation?"
    )

    carol.refresh_from_db()
    assert carol.stage == "searching"
    confirmation = outbox_to(carol.email)[-1]
    assert OutboxMessage.objects.filter(recipient=carol.email).count() == 2  # one email back, not two
    assert "We read your reply as: stage 3, searching." in confirmation.text
    assert "A person reads every reply" in confirmation.text
    assert confirmation.headers["In-Reply-To"] == reply.message_id
    assert "Pivot Path" in confirmation.html and "font-family" in confirmation.html  # course layout, not bare serif
    thread = Conversation.objects.get(subscriber=carol)
    assert thread.needs_answer
    assert [m.kind for m in thread.messages.all()] == [Kind.REPLY, Kind.CONFIRMATION]
    assert thread.messages.get(kind=Kind.CONFIRMATION).message_id == confirmation.message_id


def test_the_admin_answers_in_the_inbox_and_the_reader_s_next_reply_lands_in_the_same_thread(
    carol, client, admin_user, django_capture_on_commit_callbacks
):
    send_lesson(carol)
    lesson_email = outbox_to(carol.email)[-1]
    first = reply_to(
        client, django_capture_on_commit_callbacks, lesson_email, "Is the MSL track realistic for a nurse?"
    )
    thread = Conversation.objects.get(subscriber=carol)
    client.force_login(admin_user)

    inbox = client.get("/admin/subscribers/conversation/?needs_answer__exact=1&unread__exact=1")
    assert "carol@example.com" in inbox.text and "Is the MSL track realistic" in inbox.text
    reader_page = client.get(f"/admin/subscribers/subscriber/{carol.pk}/change/").text
    assert f"/admin/subscribers/conversation/{thread.pk}/change/" in reader_page
    page = client.get(f"/admin/subscribers/conversation/{thread.pk}/change/")
    assert page.status_code == 200 and "Is the MSL track realistic for a nurse?" in page.text
    thread.refresh_from_db()
    assert not thread.unread  # opened
    assert client.get("/admin/subscribers/conversation/?unread__exact=1").text.count("carol@example.com") == 0

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/admin/subscribers/conversation/{thread.pk}/change/",
            {"action": "answer", "text": "Yes. Many MSLs are nurses with a DNP.\n\nStart with the month 4 lesson."},
        )
    assert response.status_code == 302

    answer = outbox_to(carol.email)[-1]
    assert answer.subject == f"Re: {lesson_email.subject}"
    assert answer.from_email == "Pivot Path <course@pivotpath.localhost>"
    assert answer.headers["In-Reply-To"] == first.message_id
    assert answer.headers["References"].split() == [lesson_email.message_id, first.message_id]
    assert "Auto-Submitted" not in answer.headers  # a person wrote it
    assert "Many MSLs are nurses with a DNP." in answer.text and "Start with the month 4 lesson.</p>" in answer.html
    assert find_target(answer.reply_to).subscriber_id == carol.pk
    thread.refresh_from_db()
    assert not thread.needs_answer
    sent = thread.messages.get(kind=Kind.ANSWER)
    assert (sent.state, sent.author, sent.message_id) == ("sent", "admin:maria", answer.message_id)
    assert Event.objects.filter(subscriber=carol, what="reply_answered", actor="admin:maria").exists()
    assert "Many MSLs are nurses" in client.get(f"/admin/subscribers/conversation/{thread.pk}/change/").text

    # Carol answers the answer: same thread, unread again.
    reply_to(client, django_capture_on_commit_callbacks, answer, "Thank you, that helps a lot. I will read it tonight.")
    thread.refresh_from_db()
    assert thread.unread
    assert [m.kind for m in thread.messages.all()] == [Kind.REPLY, Kind.ACKNOWLEDGEMENT, Kind.ANSWER, Kind.REPLY]
    assert Conversation.objects.count() == 1


def test_the_inbox_lists_threads_newest_first_and_filters_unread_and_needing_an_answer(
    carol, checkin_course, client, admin_user, django_capture_on_commit_callbacks
):
    from tests.conftest import enrol

    dana = enrol(checkin_course, "dana@example.com", first_name="Dana")
    send_checkin(carol)
    send_checkin(dana)
    reply_to(client, django_capture_on_commit_callbacks, outbox_to(carol.email)[-1], "2")
    with time_machine.travel(timezone.now() + timedelta(hours=1), tick=False):
        reply_to(client, django_capture_on_commit_callbacks, outbox_to(dana.email)[-1], "Where do I find lesson 3?")
    client.force_login(admin_user)

    everyone = client.get("/admin/subscribers/conversation/").text
    assert everyone.index("dana@example.com") < everyone.index("carol@example.com")
    needing = client.get("/admin/subscribers/conversation/?needs_answer__exact=1").text
    assert "dana@example.com" in needing and "carol@example.com" not in needing
    unread = client.get("/admin/subscribers/conversation/?unread__exact=1").text
    assert "dana@example.com" in unread and "carol@example.com" not in unread  # a bare "2" needs no reading


def test_the_reader_timeline_shows_the_thread_with_what_changed_and_its_undo(
    carol, client, admin_user, django_capture_on_commit_callbacks
):
    send_checkin(carol)
    reply = reply_to(client, django_capture_on_commit_callbacks, outbox_to(carol.email)[-1], "4, interviewing now!")
    client.force_login(admin_user)

    page = client.get(f"/ops/readers/{carol.pk}/").text

    assert "Conversation" in page and "4, interviewing now!" in page
    assert "stage 4, interviewing" in page
    assert inbound.undo_url(reply).replace(inbound.settings.SITE_URL, "") in page

    # The admin undoes it from the thread; the timeline says so.
    thread = Conversation.objects.get(subscriber=carol)
    client.post(f"/admin/subscribers/conversation/{thread.pk}/change/", {"action": "undo", "reply": reply.pk})
    carol.refresh_from_db()
    assert carol.stage == "deciding"
    assert "(undone)" in client.get(f"/ops/readers/{carol.pk}/").text


def test_the_undo_page_says_what_it_put_back(carol, client, django_capture_on_commit_callbacks):
    send_checkin(carol)
    reply = reply_to(client, django_capture_on_commit_callbacks, outbox_to(carol.email)[-1], "4")

    page = client.post(f"/reply/undo/{inbound.undo_token(reply)}/").text

    assert "We put things back as they were before your reply: <strong>stage 1, deciding</strong>." in page
    assert "Your reply had set stage 4, interviewing." in page


def test_a_view_only_operator_reads_the_thread_but_cannot_answer(carol, client, django_capture_on_commit_callbacks):
    from django.contrib.auth.models import Permission

    send_lesson(carol)
    reply_to(client, django_capture_on_commit_callbacks, outbox_to(carol.email)[-1], "Can I skip month 2?")
    thread = Conversation.objects.get(subscriber=carol)
    user = operator()
    user.user_permissions.add(Permission.objects.get(codename="view_conversation"))
    client.force_login(user)

    page = client.get(f"/admin/subscribers/conversation/{thread.pk}/change/")
    assert "Can I skip month 2?" in page.text and "Send answer" not in page.text
    refused = client.post(f"/admin/subscribers/conversation/{thread.pk}/change/", {"action": "answer", "text": "x"})
    assert refused.status_code == 403
    assert not thread.messages.filter(kind=Kind.ANSWER).exists()


def test_a_thread_email_is_sent_once_and_a_failed_send_is_released_for_a_retry(carol, monkeypatch):
    send_lesson(carol)
    thread = conversations.thread_of(carol)
    message = conversations.answer(thread, "Hello Carol", actor="admin:maria")
    # eager tasks sent it on commit? Not inside this test's transaction: send by hand.
    assert conversations.send_message(message.pk) == "sent"
    assert conversations.send_message(message.pk).startswith("skipped")
    assert OutboxMessage.objects.filter(subject__startswith="Re:").count() == 1

    second = conversations.answer(thread, "One more thing", actor="admin:maria")

    def refuse(*args, **kwargs):
        raise ConnectionError("ESP down")

    monkeypatch.setattr("django.core.mail.EmailMultiAlternatives.send", refuse)
    with pytest.raises(ConnectionError):
        conversations.send_message(second.pk)
    second.refresh_from_db()
    assert second.state == "pending"  # released: the task's retry, or beat's recovery, sends it


def test_every_email_on_a_thread_names_the_reader_in_its_signed_reply_address(carol):
    delivery = send_lesson(carol)
    (address,) = outbox_to(carol.email)[-1].reply_to
    assert address == reply_address(carol.pk, delivery.pk)
    assert [a for _, a in getaddresses([address])] == [address]
