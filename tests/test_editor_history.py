"""The editor keeps work: a test send keeps the unsaved edit; the history shows any two versions'
difference (subject, body, front matter) and the deliveries that used each version."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from lessons import history
from lessons.models import Lesson
from subscribers.sending import drip
from tests.conftest import outbox_to


@pytest.fixture
def author_client(client, db):
    client.force_login(User.objects.create_superuser("ada", "ada@example.com", "a-long-password-1"))
    return client


def save(client, lesson: Lesson, **changes):
    version = lesson.current_version
    data = {
        "course": lesson.course_id, "slug": lesson.slug, "kind": lesson.kind, "stage": lesson.stage,
        "destinations": lesson.destinations, "month": lesson.month, "order": lesson.order,
        "subject": version.subject, "body": version.body,
        "versions-TOTAL_FORMS": "0", "versions-INITIAL_FORMS": "0", **changes,
    }  # fmt: skip
    response = client.post(f"/admin/lessons/lesson/{lesson.pk}/change/", data)
    assert response.status_code == 302
    lesson.refresh_from_db()


def test_send_a_test_keeps_the_unsaved_edit_in_the_editor(course, author_client):
    lesson = Lesson.objects.get(course=course, slug="lesson-1")
    url = f"/admin/lessons/lesson/{lesson.pk}/send-test/"

    # The editor's script: the test goes out and the page stays as it is.
    response = author_client.post(url, {"subject": "Try me", "body": "Unsaved words"}, HTTP_ACCEPT="application/json")
    assert response.json() == {"ok": True, "message": "Test sent to ada@example.com."}

    # Without the script the form posts and comes back: the draft is in the editor, not the saved text.
    response = author_client.post(url, {"subject": "Try me again", "body": "Still unsaved words"}, follow=True)
    assert [m.subject for m in outbox_to("ada@example.com")] == ["[Test] Try me", "[Test] Try me again"]
    assert "Still unsaved words</textarea>" in response.text
    assert 'value="Try me again"' in response.text
    assert "Your unsaved edit (the one sent as a test) is still in the editor" in response.text
    assert lesson.versions.count() == 1

    # Shown once: the next visit shows the saved version again.
    page = author_client.get(f"/admin/lessons/lesson/{lesson.pk}/change/")
    assert "Still unsaved words" not in page.text


def test_the_editor_page_says_the_test_button_keeps_the_edit(course, author_client):
    lesson = Lesson.objects.get(course=course, slug="lesson-1")
    page = author_client.get(f"/admin/lessons/lesson/{lesson.pk}/change/")
    assert 'id="send-test"' in page.text and '"Accept": "application/json"' in page.text
    assert f"/admin/lessons/lesson/{lesson.pk}/history/" in page.text


def test_history_shows_the_difference_between_any_two_versions(course, author_client):
    lesson = Lesson.objects.get(course=course, slug="lesson-2")
    body = lesson.current_version.body
    save(author_client, lesson, subject="Lesson two", body=body.replace("Body of lesson 2", "A better body"))
    save(author_client, lesson, month="2")
    assert lesson.current_version.number == 3

    page = author_client.get(f"/admin/lessons/lesson/{lesson.pk}/history/?old=1&new=3")

    assert page.status_code == 200
    text = page.text
    assert '<tr class="removed"><td class="n">1</td><td class="n"></td><td class="t">Lesson 2</td></tr>' in text
    assert '<td class="t">Lesson two</td>' in text
    assert '<td class="t">month: 1</td>' in text and '<td class="t">month: 2</td>' in text
    assert "A better body" in text and "lesson file test-course" not in text
    assert "file lesson-2.md (sha256" in text and "admin editor, ada" in text

    parts = {part.name: part for part in history.compare(lesson.versions.get(number=2), lesson.current_version)}
    assert [parts[name].changed for name in ("Subject", "Front matter", "Body")] == [False, True, False]
    removed = [line.text for line in parts["Front matter"].lines if line.kind == "removed"]
    assert removed == ["month: 1"]


def test_history_lists_the_deliveries_that_used_each_version(course, alice, author_client):
    (delivery_id,) = drip.tick(queue=False).delivery_ids
    drip.send_delivery(delivery_id)
    welcome = Lesson.objects.get(course=course, slug="welcome")
    first = welcome.current_version
    save(author_client, welcome, body="Hello {{ first_name }}, a newer welcome.")

    rows = history.versions_with_deliveries(welcome)
    assert [(row.version.number, row.deliveries) for row in rows] == [(2, 0), (1, 1)]
    assert rows[1].first_sent is not None

    page = author_client.get(f"/admin/lessons/lesson/{welcome.pk}/history/")
    assert f'?version__id__exact={first.pk}">1</a>' in page.text
    listing = author_client.get(f"/admin/subscribers/delivery/?version__id__exact={first.pk}")
    assert listing.status_code == 200 and "alice@example.com" in listing.text
    edit_page = author_client.get(f"/admin/lessons/lesson/{welcome.pk}/change/")
    assert "1 delivery</a>" in edit_page.text
