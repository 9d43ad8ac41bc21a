"""The operator pages: staff only, figures aggregated in the database (statement counts do not
grow with the number of readers), a reader's timeline, and streamed CSV exports with filters."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from subscribers.models import Delivery, Reply, Subscriber
from subscribers.ops import charts, reports
from subscribers.readers import changes
from tests.conftest import enrol, operator, send_checkin
from tests.course_history import course_history

PAGES = ["/ops/", "/ops/?days=7", "/ops/readers/", "/ops/readers/?status=active&stage=searching&q=reader"]


@pytest.fixture
def shipped(checkin_course):
    """A small course with a check-in, so replies have something to answer."""
    return checkin_course


@pytest.fixture
def staff(client):
    client.force_login(operator())
    return client


def csv_rows(response) -> list[dict[str, str]]:
    assert response.streaming
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


@pytest.mark.parametrize("url", [*PAGES, "/ops/readers/1/", "/ops/export/readers.csv", "/ops/export/deliveries.csv"])
def test_it_sends_anyone_but_staff_to_the_admin_login(client, db, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=/ops/")
    client.force_login(User.objects.create_user("reader", password="pw"))
    assert client.get(url).status_code == 302


@pytest.mark.parametrize("url", [*PAGES, "/ops/readers/1/", "/ops/export/readers.csv", "/ops/export/deliveries.csv"])
def test_staff_without_the_ops_permission_get_a_403(client, db, url):
    client.force_login(User.objects.create_user("intern", password="pw", is_staff=True))
    response = client.get(url)
    assert response.status_code == 403
    assert not getattr(response, "streaming", False)


def test_it_counts_readers_emails_replies_and_failures(shipped, staff):
    people = course_history(shipped, 40)
    data = reports.overview(shipped, days=30)
    assert data.readers == 40 == sum(data.by_status.values())
    assert data.in_course == Subscriber.objects.filter(status__in=["active", "paused"]).count()
    assert sum(data.by_stage.values()) == data.in_course == sum(data.by_destination.values())
    since = data.since
    assert data.sent == Delivery.objects.filter(sent_at__gte=since).count() > 0
    assert (
        sum(d.bounced for d in data.emails) == Delivery.objects.filter(outcome="bounced", outcome_at__gte=since).count()
    )
    assert data.review_waiting == Reply.objects.filter(status="review").count()
    assert data.checkins_answered == (
        Delivery.objects.filter(lesson__kind="checkin", sent_at__gte=since, replies__isnull=False).distinct().count()
    )
    assert sum(c.readers for c in data.cohorts) == len(people)
    problems = Delivery.objects.filter(reports.PROBLEM).count()
    assert len(data.problems) == min(problems, reports.RECENT_PROBLEMS)

    page = staff.get("/ops/").content.decode()
    assert "How the course is going" in page
    assert page.count("<svg") == 7
    assert f"<b>{data.review_waiting}</b>" in page


def test_dashboard_pages_take_the_same_statements_for_10_and_60_readers(shipped, staff):
    counts: dict[str, list[int]] = {url: [] for url in PAGES}
    start = 0
    for size in (10, 50):
        course_history(shipped, size, start=start)
        start += size
        for url in PAGES:
            with CaptureQueriesContext(connection) as queries:
                assert staff.get(url).status_code == 200
            counts[url].append(len(queries))
    for url, (small, large) in counts.items():
        assert small == large, f"{url}: {small} statements with 10 readers, {large} with 60"
    assert counts["/ops/"][0] <= 16  # 14, and two for the permission check (user and group permissions)


def test_a_timeline_takes_the_same_statements_for_a_short_and_a_long_history(shipped, staff):
    course_history(shipped, 30)
    now = timezone.now()
    new = enrol(shipped, "new@example.com", now=now - timedelta(days=2))
    old = Subscriber.objects.filter(status="active").order_by("enrolled_at").first()
    assert old.deliveries.count() >= 5 and old.events.exists() and not new.deliveries.exists()
    counts = []
    for reader in (new, old):
        with CaptureQueriesContext(connection) as queries:
            assert staff.get(f"/ops/readers/{reader.pk}/").status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_a_timeline_tells_the_readers_story_in_order_and_what_comes_next(shipped, staff):
    now = timezone.now()
    alice = enrol(shipped, "alice@example.com", first_name="Alice", destination="payer", now=now - timedelta(days=20))
    changes.change_stage(alice, "searching", actor="reader", why="replied 3", now=now - timedelta(days=3))
    send_checkin(alice)

    story = reports.timeline(alice)
    assert [(m.kind, m.title) for m in story.moments] == [
        ("change", "Enrolled"),
        ("change", "Stage changed"),
        ("email", "checkin-1 (sent)"),
    ]
    assert [m.at for m in story.moments] == sorted(m.at for m in story.moments)
    assert story.coming and story.coming[0].reason

    page = staff.get(f"/ops/readers/{alice.pk}/").content.decode()
    assert "What the planner sends next, and why" in page
    assert "deciding → searching" in page and "replied 3" in page
    assert story.coming[0].reason in page


def test_the_admin_links_to_the_dashboard_and_to_each_timeline(shipped, client):
    client.force_login(User.objects.create_superuser("admin", "admin@example.com", "pw"))
    alice = enrol(shipped, "alice@example.com")
    assert 'href="/ops/"' in client.get("/admin/").content.decode()
    assert (
        f'href="/ops/readers/{alice.pk}/"'
        in client.get(f"/admin/subscribers/subscriber/{alice.pk}/change/").content.decode()
    )


def test_the_readers_export_streams_every_matching_reader(shipped, staff):
    course_history(shipped, 60)
    expected = Subscriber.objects.filter(status="active", stage="searching").count()
    response = staff.get("/ops/export/readers.csv?status=active&stage=searching")
    assert response["Content-Disposition"].startswith('attachment; filename="readers-')
    rows = csv_rows(response)
    assert len(rows) == expected
    assert {(row["status"], row["stage"]) for row in rows} <= {("active", "searching")}
    assert list(rows[0]) == list(reports.READER_COLUMNS)


def test_the_deliveries_export_filters_by_course_reader_and_date(shipped, staff):
    course_history(shipped, 30)
    since = (timezone.now() - timedelta(days=14)).date()
    expected = Delivery.objects.filter(subscriber__destination="payer", created_at__date__gte=since).count()
    rows = csv_rows(staff.get(f"/ops/export/deliveries.csv?course={shipped.slug}&destination=payer&since={since}"))
    assert len(rows) == expected > 0
    assert all(row["sent_at"] >= since.isoformat() or row["state"] == "failed" for row in rows)


def test_an_export_neutralises_cells_a_spreadsheet_would_run(shipped, staff):
    enrol(shipped, "mallory@example.com", first_name='=HYPERLINK("http://evil")')
    (row,) = csv_rows(staff.get("/ops/export/readers.csv"))
    assert row["first_name"] == '\'=HYPERLINK("http://evil")'


def test_bad_filters_get_a_400_that_names_them(shipped, staff):
    response = staff.get("/ops/export/deliveries.csv?stage=flying&since=2026-02-30")
    assert response.status_code == 400
    text = response.content.decode()
    assert "stage: Select a valid choice" in text and "since: Enter a valid date" in text
    response = staff.get("/ops/readers/?since=2026-03-01&until=2026-02-01")
    assert response.status_code == 400
    assert "'from' date is after the 'to' date" in response.content.decode()


def test_an_export_reads_in_chunks_with_constant_statements(shipped, staff, monkeypatch):
    monkeypatch.setattr(reports, "EXPORT_CHUNK", 7)
    counts = []
    for size in (5, 40):
        course_history(shipped, size, start=size * 10)
        with CaptureQueriesContext(connection) as queries:
            rows = csv_rows(staff.get("/ops/export/readers.csv"))
        counts.append(len(queries))
        assert len(rows) == Subscriber.objects.count()
    assert counts[0] == counts[1]


def test_the_reply_rate_counts_check_ins_not_replies(shipped, staff):
    """Three replies to one check-in are one check-in answered, of one sent (not "1 of 3")."""
    carol = enrol(shipped, "carol@example.com", first_name="Carol")
    checkin = send_checkin(carol)
    for n in range(3):
        Reply.objects.create(subscriber=carol, delivery=checkin, message_id=f"<r{n}@example.com>", raw="x",
                             status=Reply.Status.APPLIED)  # fmt: skip
    data = reports.overview(shipped, days=30)
    assert (data.checkins_sent, data.checkins_answered) == (1, 1)
    assert data.reply_rate == 1.0
    assert "check-ins answered (1 of 1)" in staff.get("/ops/").content.decode()


def test_cohort_labels_name_the_month_and_year_and_the_course_month():
    from datetime import date

    assert reports.cohort_label(reports.Cohort(date(2026, 11, 1), 1)) == "Nov 2026 cohort\nin month 1"
    assert reports.cohort_label(reports.Cohort(date(2025, 1, 1), 14)) == "Jan 2025 cohort\nfinished"
    labels, _ = reports.cohort_series([reports.Cohort(date(2026, 2, 1), 1)])
    svg = charts.stacked_bars("cohorts", labels, {"Deciding": [100.0]})
    assert ">Feb 2026 cohort</tspan>" in svg and ">in month 1</tspan>" in svg
