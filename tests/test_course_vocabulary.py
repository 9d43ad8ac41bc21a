"""Each course's own vocabulary (course.yaml): stages and destinations with labels, meanings and the
words a reply may use, validated on import and used by the course map, intake, preferences, plan,
emails, dashboard and the reply reader. The sample course has tracks of its own."""

from __future__ import annotations

import re
import shutil
from collections import Counter
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from course.models import Course
from course.vocabulary import builtin_vocabulary, parse_vocabulary
from lessons.importing import import_path
from subscribers.models import Event, Reply
from subscribers.ops import reports
from subscribers.replies.understanding import understand
from subscribers.sending import esp_payloads
from subscribers.sending.emails import placeholder_values
from subscribers.signup.forms import IntakeForm
from tests.conftest import AUTH, SHIPPED_CONTENT, TEST_COURSE, enrol, outbox_to, send_checkin

AE_TRACKS = ["undecided", "same-role-elsewhere", "sales-leadership", "customer-success", "sales-engineering"]


@pytest.fixture
def ae(db) -> Course:
    (report,) = import_path(SHIPPED_CONTENT / "ae-after-layoff")
    return report.course


def test_each_shipped_course_declares_its_own_tracks_and_the_clinical_words_come_from_its_file(ae):
    assert ae.words.destination_values == AE_TRACKS
    assert ae.words.destination_label("sales-engineering") == "Sales engineering"
    assert ae.words.stage("searching").meaning == "actively going after specific roles and companies"
    clinical = builtin_vocabulary()
    assert "medical-affairs" in clinical.destination_values and "sales-leadership" not in clinical.destination_values
    payer = clinical.destination("payer")
    assert payer.description and any("insur" in pattern for pattern in payer.patterns) and "UM" in payer.acronyms


def test_the_sample_course_map_lists_its_own_tracks_not_the_clinical_ones(ae):
    out = StringIO()
    call_command("course_map", "--course", "ae-after-layoff", stdout=out)
    text = out.getvalue()
    for label in ("Same role, another company", "Sales leadership", "Customer success", "Sales engineering"):
        assert f"\n{label} (" in text
    assert "Medical affairs" not in text and "Payer" not in text and "no gaps" in text


def test_the_admin_course_map_uses_the_courses_tracks(ae, client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("ada", "ada@example.com", "a-long-password-1"))
    page = client.get("/admin/lessons/lesson/course-map/?course=ae-after-layoff")
    assert "<h2>Sales engineering</h2>" in page.text and "Medical affairs" not in page.text


def test_the_sample_course_intake_offers_its_own_tracks(ae, settings, client):
    settings.SIGNUP_COURSE = "ae-after-layoff"
    page = client.get("/start/")
    assert page.status_code == 200
    select = page.text.split('<select name="destination"', 1)[1].split("</select>", 1)[0]
    choices = re.findall(r'<option value="([^"]+)"', select)
    assert choices == AE_TRACKS
    assert "Still deciding: help me choose" in page.text and "Medical affairs" not in page.text
    form = IntakeForm(course=ae)
    assert [value for value, _label in form.fields["destination"].choices] == AE_TRACKS


def test_a_reply_to_the_sample_course_is_read_with_its_tracks(ae, client, webhook_secret, eager_tasks,
                                                              django_capture_on_commit_callbacks):  # fmt: skip
    assert understand("Leaning toward sales engineering now", ae.words).destination == "sales-engineering"
    assert understand("I want to try customer success", ae.words).destination == "customer-success"
    assert understand("I want to try customer success").destination is None  # not a clinical track
    assert understand("leaning toward pharma", ae.words).destination is None

    reader = enrol(ae, "sam@example.com", first_name="Sam", stage="searching")
    delivery = send_checkin(reader)
    checkin = outbox_to(reader.email)[-1]
    from subscribers.readers.addresses import reply_address

    raw = esp_payloads.reply_mime(
        sender=reader.email, to=reply_address(reader.pk, delivery.pk), subject=checkin.subject,
        in_reply_to=checkin.message_id, quoted_from=checkin.from_email, quoted_text=checkin.text,
        text="4, and I'm leaning toward a sales leadership role",
    )  # fmt: skip
    payload = esp_payloads.postmark(raw)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.generic("POST", payload.path, payload.body, content_type=payload.content_type, **AUTH)
    assert response.status_code == 200
    reader.refresh_from_db()
    assert (reader.stage, reader.destination) == ("interviewing", "sales-leadership")
    assert Reply.objects.get().status == Reply.Status.APPLIED
    assert Event.objects.filter(what="destination_changed", after="sales-leadership").exists()
    assert "destination sales leadership" in outbox_to(reader.email)[-1].text


def test_preferences_plan_emails_and_dashboard_speak_the_courses_words(ae, client):
    from subscribers.preferences import page as preferences
    from subscribers.readers import changes
    from subscribers.readers.links import preferences_url

    reader = enrol(ae, "lee@example.com", first_name="Lee", destination="customer-success")
    with pytest.raises(changes.ChangeRefused):
        changes.change_destination(reader, "payer", actor="test", why="a clinical track is not this course's")
    form = preferences.TrackForm(words=ae.words)
    assert [value for value, _ in form.fields["destination"].choices] == AE_TRACKS
    assert preferences.StageForm(words=ae.words).fields["stage"].choices[0] == ("deciding", "1. Deciding")

    from django.utils import timezone

    page = client.get(preferences_url(reader, timezone.now()).removeprefix("http://127.0.0.1:8000"))
    assert page.status_code == 200
    assert 'value="sales-engineering"' in page.text and 'value="payer"' not in page.text

    values = placeholder_values(reader, timezone.now())
    assert values["destination_name"] == "customer success"

    items = dict(reports.destination_items(Counter({"customer-success": 1}), ae.words))
    assert items == {"Customer success": 1, "Still deciding": 0, "Same role, another company": 0,
                     "Sales leadership": 0, "Sales engineering": 0}  # fmt: skip
    every = dict(
        reports.destination_items(Counter({"payer": 2, "customer-success": 1}), builtin_vocabulary(), ae.words)
    )
    assert every["Payer"] == 2 and every["Customer success"] == 1


def test_a_lesson_naming_a_track_the_course_does_not_have_is_refused_with_the_closest(tmp_path):
    folder = tmp_path / "ae-after-layoff"
    shutil.copytree(SHIPPED_CONTENT / "ae-after-layoff", folder)
    path = folder / "the-sales-interview-loop.md"
    path.write_text(path.read_text().replace("destinations: any", "destinations: [sales-enginering, payer]"))
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("validate_lessons", str(folder), stdout=out, stderr=StringIO())
    text = out.getvalue()
    assert "unknown destination 'sales-enginering': did you mean sales-engineering? (one of undecided," in text
    assert "unknown destination 'payer'" in text


@pytest.mark.parametrize(
    "words, expected",
    [
        ({"destinations": [{"slug": "payer", "label": "Payer"}]},
         "destinations must include 'undecided'"),
        ({"destinations": [{"slug": "undecided", "label": "U"}, {"slug": "undecided", "label": "Again"}]},
         "destination 2 (undecided): slug 'undecided' is declared twice"),
        ({"destinations": [{"slug": "undecided", "label": "U", "words": ["sales"]},
                           {"slug": "sales", "label": "S", "words": ["Sales"]}]},
         "destination 2 (sales): reply word 'Sales' also names undecided"),
        ({"destinations": [{"slug": "undecided", "label": "U", "patterns": ["(unclosed"]}]},
         "destination 1 (undecided): pattern '(unclosed' is not a valid regular expression"),
        ({"destinations": [{"slug": "undecided", "label": "U", "synonyms": ["x"]}]},
         "destination 1 (undecided): unknown field 'synonyms'"),
        ({"stages": [{"number": 1, "slug": "decidng", "label": "D"}]},
         "unknown stage 'decidng': did you mean deciding?"),
        ({"stages": [{"number": 2, "slug": "deciding", "label": "D"}]}, "stage 1 (deciding): number must be 1"),
    ],
)  # fmt: skip
def test_a_vocabulary_is_validated_naming_each_problem(words, expected):
    vocabulary, problems = parse_vocabulary(words)
    assert vocabulary is None
    assert any(expected in problem for problem in problems), problems


def test_a_bad_vocabulary_in_course_yaml_imports_nothing_and_names_the_line(db, tmp_path):
    folder = tmp_path / "test-course"
    shutil.copytree(TEST_COURSE, folder)
    course_file = folder / "course.yaml"
    course_file.write_text(course_file.read_text() + "destinations:\n  - slug: payer\n    label: Payer\n")
    lines = course_file.read_text().splitlines()
    with pytest.raises(Exception, match=rf"course.yaml:{lines.index('destinations:') + 1}: destinations must include"):
        import_path(folder)
    assert not Course.objects.exists()


def test_the_sample_tracks_work_in_previews_welcome_words_and_the_schedule_preview(ae, client, django_user_model):
    from lessons.models import Lesson
    from subscribers.signup.views import _track_words

    lesson = Lesson.objects.get(course=ae, slug="the-sales-interview-loop")
    lesson.destinations = ["sales-engineering"]
    lesson.save()
    client.force_login(django_user_model.objects.create_superuser("ada", "ada@example.com", "a-long-password-1"))
    preview = client.post(
        f"/admin/lessons/lesson/{lesson.pk}/preview/", {"subject": "S", "body": "On {{ destination_name }}."}
    )
    assert "On sales engineering." in preview.json()["text"]
    editor = client.get(f"/admin/lessons/lesson/{lesson.pk}/change/")
    assert 'value="sales-engineering"' in editor.text and 'value="payer"' not in editor.text

    reader = enrol(ae, "kim@example.com", first_name="Kim", destination="sales-leadership")
    assert _track_words(reader) == "your track, sales leadership"
    out = StringIO()
    call_command("preview_schedule", "kim@example.com", "--destination", "customer-success", "--weeks", "2", stdout=out)
    assert "customer-success" in out.getvalue()
    with pytest.raises(CommandError, match="unknown destination 'payer' for ae-after-layoff"):
        call_command("preview_schedule", "kim@example.com", "--destination", "payer", stdout=StringIO())
    readers = client.get("/ops/readers/?destination=sales-leadership")
    assert readers.status_code == 200 and "kim@example.com" in readers.text


def test_the_admin_changes_a_sample_course_reader_to_one_of_its_tracks(ae, django_user_model, rf):
    from django.contrib.admin.sites import site
    from django.forms.models import model_to_dict

    from subscribers.models import Subscriber

    reader = enrol(ae, "ana@example.com", first_name="Ana")
    request = rf.get("/")
    request.user = django_user_model.objects.create_superuser("ada", "ada@example.com", "a-long-password-1")
    form_class = site._registry[Subscriber].get_form(request, reader, change=True)
    data = {key: value for key, value in model_to_dict(reader).items() if value is not None}
    form = form_class({**data, "destination": "sales-engineering"}, instance=reader)
    assert [value for value, _ in form.fields["destination"].choices] == AE_TRACKS
    assert form.is_valid(), form.errors
    assert not form_class({**data, "destination": "payer"}, instance=reader).is_valid()
