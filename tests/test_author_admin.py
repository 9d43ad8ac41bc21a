"""The author's admin: edit with preview, send a test, versions kept, the course map."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from lessons.models import Lesson
from subscribers.sending import drip
from tests.conftest import outbox_to


@pytest.fixture
def author(db) -> User:
    return User.objects.create_superuser("ada", "ada@example.com", "a-long-password-1")


@pytest.fixture
def author_client(client, author):
    client.force_login(author)
    return client


def edit(client, lesson: Lesson, **changes):
    version = lesson.current_version
    data = {
        "course": lesson.course_id, "slug": lesson.slug, "kind": lesson.kind, "stage": lesson.stage,
        "destinations": lesson.destinations, "month": lesson.month, "order": lesson.order,
        "subject": version.subject, "body": version.body,
        "versions-TOTAL_FORMS": "0", "versions-INITIAL_FORMS": "0", **changes,
    }  # fmt: skip
    return client.post(f"/admin/lessons/lesson/{lesson.pk}/change/", data)


def test_editing_a_sent_lesson_makes_a_new_version_and_the_delivery_keeps_the_old(course, alice, author_client):
    (delivery_id,) = drip.tick(queue=False).delivery_ids
    drip.send_delivery(delivery_id)
    welcome = Lesson.objects.get(course=course, slug="welcome")
    first = welcome.current_version

    response = edit(author_client, welcome, body="Hello {{ first_name }}, a better welcome.")

    assert response.status_code == 302
    welcome.refresh_from_db()
    assert welcome.current_version.number == 2
    assert welcome.versions.count() == 2
    assert alice.deliveries.get().version == first
    page = author_client.get(f"/admin/lessons/lesson/{welcome.pk}/change/")
    assert "History" in page.text and "a better welcome" in page.text


def test_saving_without_changes_keeps_the_version(course, author_client):
    lesson = Lesson.objects.get(course=course, slug="lesson-1")
    assert edit(author_client, lesson).status_code == 302
    assert lesson.versions.count() == 1


def test_the_form_refuses_an_unknown_placeholder(course, author_client):
    lesson = Lesson.objects.get(course=course, slug="lesson-1")
    response = edit(author_client, lesson, body="Hi {{ surname }}")
    assert response.status_code == 200
    assert "Unknown placeholder: surname" in response.text
    assert lesson.versions.count() == 1


def test_the_live_preview_renders_the_draft_as_html_and_text(course, author_client):
    lesson = Lesson.objects.get(course=course, slug="lesson-1")
    response = author_client.post(
        f"/admin/lessons/lesson/{lesson.pk}/preview/",
        {"subject": "Draft for {{ first_name }}", "body": "## Big news\n\nHi."},
    )
    data = response.json()
    assert data["subject"] == "Draft for Alex"
    assert "<h2" in data["html"] and "Big news" in data["html"]
    assert "BIG NEWS" in data["text"]
    assert data["problems"] == []


def test_send_a_test_puts_the_draft_in_the_authors_inbox(course, author_client):
    lesson = Lesson.objects.get(course=course, slug="lesson-1")
    response = author_client.post(
        f"/admin/lessons/lesson/{lesson.pk}/send-test/", {"subject": "Try me", "body": "Draft body"}
    )
    assert response.status_code == 302
    (message,) = outbox_to("ada@example.com")
    assert message.subject == "[Test] Try me"
    assert "Draft body" in message.text


def test_the_course_map_page_shows_counts_and_highlights_gaps(course, author_client):
    page = author_client.get("/admin/lessons/lesson/course-map/?course=test-course")
    assert page.status_code == 200
    assert "Payer" in page.text
    assert "week(s) without an email" in page.text
    assert 'class="gap"' in page.text


def test_the_subscriber_page_shows_the_coming_emails_and_why(alice, author_client):
    page = author_client.get(f"/admin/subscribers/subscriber/{alice.pk}/change/")
    assert page.status_code == 200
    assert "Coming emails" in page.text
    assert "welcome comes first" in page.text
    assert "Only for the payer track" not in page.text  # slugs, not subjects
    assert "payer-only" in page.text


def _save_in_admin(subscriber, user, rf, **edits):
    """Save the admin's subscriber form with `edits`, as the change page does (SubscriberAdmin.save_model)."""
    from django.contrib import admin
    from django.contrib.messages.storage.cookie import CookieStorage
    from django.forms.models import model_to_dict

    from subscribers.admin import SubscriberAdmin
    from subscribers.models import Subscriber

    model_admin = SubscriberAdmin(Subscriber, admin.site)
    request = rf.post("/")
    request.user, request._messages = user, CookieStorage(request)
    form_class = model_admin.get_form(request, subscriber, change=True)
    form = form_class(data={**model_to_dict(subscriber, fields=list(form_class.base_fields)), **edits},
                      instance=subscriber)  # fmt: skip
    assert form.is_valid(), form.errors
    model_admin.save_model(request, form.save(commit=False), form, change=True)
    return [str(message) for message in request._messages]


def test_reader_state_edited_in_the_admin_goes_through_changes_with_audit_rows(alice, author, rf):
    messages = _save_in_admin(
        alice, author, rf, first_name="Alicia", stage="searching", status="paused", license_plan="let-go"
    )

    alice.refresh_from_db()
    assert (alice.first_name, alice.stage, alice.status, alice.next_send_at) == ("Alicia", "searching", "paused", None)
    assert alice.paused_at is not None
    assert set(alice.events.filter(actor="admin:ada").values_list("what", "before", "after")) == {
        ("stage_changed", "deciding", "searching"),
        ("license_plan_changed", "unsure", "let-go"),
        ("status_changed", "active", "paused"),
    }
    assert messages == []


def test_the_admin_cannot_set_a_final_status_by_hand(alice, author, rf):
    messages = _save_in_admin(alice, author, rf, status="refunded")

    alice.refresh_from_db()
    assert alice.status == "active"
    assert messages == [
        "Not changed: refunded cannot be chosen: it follows a refund, a bounce or the end of the course"
    ]
    assert not alice.events.filter(actor="admin:ada").exists()
