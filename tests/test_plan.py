"""The "Your plan" page: what the reader told us, what the course does with each answer, what comes next."""

from __future__ import annotations

from datetime import UTC, datetime

import time_machine
from django.test import Client

from lessons.importing import import_path
from subscribers.readers import changes
from subscribers.readers.links import plan_url
from subscribers.sending import drip
from tests.conftest import SHIPPED_CONTENT, enrol, outbox_to


def _reader(**profile):
    (report,) = import_path(SHIPPED_CONTENT / "clinical-to-non-clinical")
    fields = {"first_name": "Ines", "specialty": "ICU nurse", "profession": "rn", "destination": "payer",
              "license_plan": "keep", "pay_need": "match", "time_zone": "America/Chicago", "send_hour": 7}  # fmt: skip
    return enrol(report.course, "ines@example.com", **{**fields, **profile})


def _page(reader) -> str:
    response = Client().get(plan_url(reader).removeprefix("http://127.0.0.1:8000"))
    assert response.status_code == 200
    return response.content.decode()


def test_the_plan_says_what_each_answer_does_and_what_comes_next(db):
    with time_machine.travel(datetime(2026, 3, 2, 14, tzinfo=UTC), tick=False):
        reader = _reader()
        page = _page(reader)
    assert "Registered nurse, ICU nurse" in page
    assert "lessons are written for payer" in page and "Payer roles" in page
    assert "You want to keep it:" in page and "Per-diem and part-time clinical work as a bridge" in page
    assert "Your household needs your current pay:" in page and "worked numbers exercise" in page
    assert "the plan follows the calendar" in page
    assert page.count('<td class="when">') == 8, "the next eight emails"
    assert "Welcome" in page and "welcome comes first" in page
    assert "Lessons you will not miss" in page


def test_the_plan_changes_the_moment_an_answer_changes(db):
    with time_machine.travel(datetime(2026, 3, 2, 14, tzinfo=UTC), tick=False):
        reader = _reader()
        changes.change_destination(reader, "change-setting", actor="reader", why="test")
        changes.change_license_plan(reader, "let-go", actor="reader", why="test")
        changes.change_stage(reader, "searching", actor="reader", why="test")
        page = _page(reader)
    assert "You are staying in direct care and changing setting" in page
    assert "lessons about leaving clinical work are left out" in page
    assert "You plan to let it lapse" in page
    assert "Searching (you told us)" in page


def test_every_course_email_links_the_plan(db):
    sent = datetime(2026, 3, 2, 14, tzinfo=UTC)
    with time_machine.travel(sent, tick=False):
        reader = _reader()
        drip.send_delivery(drip.tick(queue=False).delivery_ids[0])
    (welcome,) = outbox_to("ines@example.com")
    assert f"Your plan: {plan_url(reader, sent)}" in welcome.text  # the link issued with the send
    assert f'href="{plan_url(reader, sent)}"' in welcome.html


def test_a_changed_plan_link_is_a_clear_404(db):
    response = Client().get("/p/not-a-real-token/plan/")
    assert response.status_code == 404
