"""The welcome email carries the reader's plan: their answers with what each does, their year, their next emails."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import time_machine
from django.test import Client

from lessons.importing import import_path
from subscribers.readers.links import preferences_url
from subscribers.sending import drip
from tests.conftest import SHIPPED_CONTENT, enrol, outbox_to

SENT = datetime(2026, 3, 2, 14, tzinfo=UTC)


def _welcome(**profile):
    (report,) = import_path(SHIPPED_CONTENT / "clinical-to-non-clinical")
    fields = {"first_name": "Ines", "specialty": "ICU nurse", "profession": "rn", "destination": "payer",
              "license_plan": "keep", "pay_need": "match", "time_zone": "America/Chicago", "send_hour": 7}  # fmt: skip
    with time_machine.travel(SENT, tick=False):
        reader = enrol(report.course, "ines@example.com", **{**fields, **profile})
        assert drip.send_delivery(drip.tick(queue=False).delivery_ids[0]) == "sent"
    (welcome,) = outbox_to("ines@example.com")
    return reader, welcome


def test_the_welcome_states_each_answer_with_its_consequence_and_the_next_eight_emails(db):
    _reader, welcome = _welcome()

    text = welcome.text
    assert "WHAT YOU TOLD US, AND WHAT THE PLAN DOES WITH IT" in text
    assert "- Your work now: Registered nurse, ICU nurse." in text
    assert "- Where you are heading: Payer." in text and "lessons are written for payer" in text
    assert "- Your clinical license: Keep it active. You want to keep it:" in text
    assert "- What your household needs: We need my current pay, or close to it." in text
    assert "Months 1 to 3: Diagnosis and conversations (you are here)." in text
    coming = text.split("YOUR NEXT 8 EMAILS")[1].split("Your plan changes")[0]
    assert len(re.findall(r"^- \w{3} \d{1,2} \w{3}: ", coming, flags=re.MULTILINE)) == 8
    # Each reason in the reader's words, not the planner's.
    assert "the next lesson for where you are (deciding), on the payer track, following the calendar" in text
    assert "one every reader like you gets by month 3" in text
    assert "a check-in, 6 weeks after you started" in text
    assert "first unsent" not in text and "order " not in coming
    # It no longer asks the reader to answer again what they just answered.
    assert "honest first answers to each of the four questions" not in text

    html = welcome.html
    assert "<h3" in html and "What you told us, and what the plan does with it" in html
    assert "<p><h3" not in html and "<p>PPVAR" not in html and "PPVAR" not in html
    assert "Registered nurse, ICU nurse" in html


def test_the_welcome_and_the_plan_page_agree(db):
    _reader, welcome = _welcome(destination="change-setting", license_plan="let-go")
    with time_machine.travel(SENT, tick=False):
        page = Client().get(re.search(r"Your plan: (\S+)", welcome.text)[1].removeprefix("http://127.0.0.1:8000"))
    assert page.status_code == 200
    for said in ("You are staying in direct care and changing setting", "You plan to let it lapse"):
        assert said in welcome.text and said in page.content.decode()


def test_a_name_typed_with_markup_stays_text_in_the_plan(db):
    _reader, welcome = _welcome(specialty="<script>alert(1)</script> nurse")
    assert "<script>alert(1)</script>" not in welcome.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; nurse" in welcome.html


def test_the_archived_welcome_points_to_todays_plan(db):
    reader, _welcome_email = _welcome()
    with time_machine.travel(SENT, tick=False):
        base = preferences_url(reader).removeprefix("http://127.0.0.1:8000")
        html = Client().get(f"{base}lessons/welcome/").content.decode()
    assert "Your plan as it stands today" in html
