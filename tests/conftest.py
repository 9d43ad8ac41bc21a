"""Shared test set-up: the test course, named personas enrolled through the real domain
functions, and a real Celery worker process for integration tests."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from course.models import Course
from lessons.importing import import_path
from subscribers.models import OutboxMessage, Subscriber
from subscribers.readers.enrolment import Intake, enroll

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
TEST_COURSE = FIXTURES / "courses" / "test-course"
SHIPPED_CONTENT = ROOT / "lessons" / "content"

# A Monday before the spring DST change in both New York (Mar 8) and London (Mar 29).
MONDAY_FEB_23 = datetime(2026, 2, 23, 15, 30, tzinfo=UTC)

# The instants `--clock=sweep` runs the time-sensitive tests at: hours either side of a morning
# send hour and of midnight, the DST changes in New York and London, a leap day and a year end.
SWEEP = {
    "0030": datetime(2026, 5, 12, 0, 30, tzinfo=UTC),
    "0759": datetime(2026, 6, 3, 7, 59, tzinfo=UTC),
    "0800": datetime(2026, 6, 3, 8, 0, tzinfo=UTC),
    "2330": datetime(2026, 9, 17, 23, 30, tzinfo=UTC),
    "us-spring-forward": datetime(2026, 3, 8, 6, 30, tzinfo=UTC),  # 01:30 in New York, before 02:00 → 03:00
    "us-fall-back": datetime(2026, 11, 1, 5, 30, tzinfo=UTC),  # 01:30 EDT in New York, the first of two
    "eu-spring-forward": datetime(2026, 3, 29, 0, 30, tzinfo=UTC),  # 00:30 in London, before 01:00 → 02:00
    "eu-fall-back": datetime(2026, 10, 25, 0, 30, tzinfo=UTC),  # 01:30 BST in London, the first of two
    "leap-day": datetime(2028, 2, 29, 18, 0, tzinfo=UTC),
    "year-end": datetime(2026, 12, 31, 23, 30, tzinfo=UTC),
}


def pytest_addoption(parser) -> None:
    parser.addoption(
        "--clock",
        default="",
        help="the instant every test's clock is frozen at: an ISO date-time (UTC if no offset), a name from "
        f"SWEEP ({', '.join(SWEEP)}), or 'sweep' to run each test once at every SWEEP instant "
        f"(default {MONDAY_FEB_23.isoformat()})",
    )


def clock_instants(config) -> dict[str, datetime]:
    """The instants `--clock` asks for, by name."""
    value = config.getoption("--clock").strip()
    if not value:
        return {"default": MONDAY_FEB_23}
    if value == "sweep":
        return dict(SWEEP)
    instants = {}
    for part in value.split(","):
        part = part.strip()
        if part in SWEEP:
            instants[part] = SWEEP[part]
            continue
        try:
            instant = datetime.fromisoformat(part)
        except ValueError:
            names = ", ".join(SWEEP)
            raise pytest.UsageError(f"--clock: {part!r} is neither an ISO date-time nor one of {names}") from None
        instants[part] = instant if instant.tzinfo else instant.replace(tzinfo=UTC)
    return instants


def pytest_generate_tests(metafunc) -> None:
    """Every test runs with the clock frozen at each instant `--clock` names (one by default)."""
    instants = clock_instants(metafunc.config)
    if "frozen_clock" in metafunc.fixturenames and len(instants) > 1:
        metafunc.parametrize("frozen_clock", list(instants.values()), ids=list(instants), indirect=True)


@pytest.fixture(autouse=True)
def frozen_clock(request) -> datetime:
    """Tests never read the real clock: time stands still at the `--clock` instant (named
    instants: SWEEP) unless a test moves it; personas enrol at it."""
    import time_machine

    instant = getattr(request, "param", None) or next(iter(clock_instants(request.config).values()))
    with time_machine.travel(instant, tick=False):
        yield instant


def pytest_collection_modifyitems(items) -> None:
    """Browser tests run last: Playwright's event loop stays open in the main thread until the
    session ends, and Django refuses database calls from a thread with a running loop."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


@pytest.fixture(autouse=True)
def local_outbox(settings):
    """Django's test runner swaps in its memory backend; keep the product's own outbox."""
    settings.EMAIL_BACKEND = "subscribers.sending.outbox.OutboxBackend"


@pytest.fixture(autouse=True)
def send_journals(settings, tmp_path) -> Path:
    """Each test's own send journals, so no test replays another's."""
    settings.SEND_JOURNAL_DIR = tmp_path / "send-journal"
    return settings.SEND_JOURNAL_DIR


@pytest.fixture
def course(db) -> Course:
    (report,) = import_path(TEST_COURSE)
    return report.course


def enrol(course: Course, email: str, *, now: datetime | None = None, **fields) -> Subscriber:
    return enroll(course, Intake(email=email, **fields), actor="test", why="test set-up", now=now)


@pytest.fixture
def alice(course) -> Subscriber:
    """A nurse in New York on the payer track who reads her email at 8 in the morning."""
    return enrol(
        course, "alice@example.com", first_name="Alice", destination="payer", time_zone="America/New_York", send_hour=8
    )


@pytest.fixture
def bob(course) -> Subscriber:
    """A physician in London, undecided, who likes his email at 18:00."""
    return enrol(course, "bob@example.com", first_name="Bob", time_zone="Europe/London", send_hour=18)


def operator(username: str = "operator", password: str = "a-long-test-password"):
    """A staff user who may see the operator pages (subscribers.ops.views.OPS_PERMISSION)."""
    from django.contrib.auth.models import Permission, User

    user = User.objects.create_user(username, f"{username}@example.com", password, is_staff=True)
    user.user_permissions.add(Permission.objects.get(content_type__app_label="subscribers", codename="view_subscriber"))
    return user


def outbox_to(email: str) -> list[OutboxMessage]:
    return list(OutboxMessage.objects.filter(recipient=email).order_by("created_at", "id"))


# --- ESP webhooks ------------------------------------------------------------------------------

# The basic-auth credentials the ESP's webhooks present, and Mailgun's signing key, in tests.
WEBHOOK_SECRET = "esp:webhook-password"
AUTH = {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(WEBHOOK_SECRET.encode()).decode()}
SIGNING_KEY = "mailgun-signing-key-for-tests"


@pytest.fixture
def webhook_secret(settings) -> None:
    """anymail's webhooks accept AUTH (and Mailgun's SIGNING_KEY); use it with `autouse` in a module."""
    settings.ANYMAIL = {
        **settings.ANYMAIL,
        "WEBHOOK_SECRET": [WEBHOOK_SECRET],
        "MAILGUN_WEBHOOK_SIGNING_KEY": SIGNING_KEY,
    }


# --- A real Celery worker ------------------------------------------------------------------


def _database_url_for_worker() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


def _purge_broker() -> None:
    from config.celery import app

    if settings.REDIS_URL:
        with app.connection_for_write() as conn:
            conn.default_channel.client.flushdb()
    else:
        folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)


class Worker:
    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.process: subprocess.Popen | None = None
        self.clock: datetime | None = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, clock: datetime | None = None) -> None:
        """Start the worker; with `clock`, its time starts at that instant and runs on (tests/clocked_celery.py)."""
        env = {**os.environ, "DATABASE_URL": _database_url_for_worker(), "CONN_MAX_AGE": "0",
               "TEST_CLOCK": clock.isoformat() if clock else ""}  # fmt: skip
        self.clock = clock
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.clocked_celery", "-A", "config", "worker", "--pool=solo", "--loglevel=INFO",
             "--without-heartbeat", "--without-gossip", "--without-mingle", "-n", f"test-{os.getpid()}@%h"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        start = self.log_path.stat().st_size if self.log_path.exists() else 0
        wait_for(lambda: b"ready." in self.log_path.read_bytes()[start:], what="the worker to start", seconds=60)

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


def wait_for(condition, *, what: str, seconds: float = 30) -> None:
    """Poll an outside process's progress (a worker, a server) until `condition()` holds."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds}s waiting for {what}")
        time.sleep(0.1)


@pytest.fixture(scope="session")
def worker_process(django_db_setup, django_db_blocker, tmp_path_factory):
    """One real `celery worker` process for the session (started by `celery_worker`)."""
    with django_db_blocker.unblock():
        _purge_broker()
    worker = Worker(tmp_path_factory.mktemp("worker") / "worker.log")
    yield worker
    worker.stop()
    with django_db_blocker.unblock():
        connection.close()


@pytest.fixture
def celery_worker(worker_process: Worker, frozen_clock: datetime) -> Worker:
    """A real `celery worker` process on the configured broker (Redis in CI, the embedded
    filesystem broker otherwise) and the test database, whose clock starts at this test's frozen
    instant: started again when the instant changes (`--clock=sweep`) or a test killed it."""
    if not worker_process.running or worker_process.clock != frozen_clock:
        worker_process.stop()
        worker_process.start(frozen_clock)
    return worker_process


# --- Check-ins by reply ----------------------------------------------------------------------

CHECKIN_COURSE = FIXTURES / "courses" / "checkin-course"


@pytest.fixture
def checkin_course(db) -> Course:
    (report,) = import_path(CHECKIN_COURSE)
    return report.course


@pytest.fixture
def carol(checkin_course) -> Subscriber:
    """A nurse in Chicago, undecided and deciding, who answers her check-ins by reply."""
    return enrol(checkin_course, "carol@example.com", first_name="Carol", time_zone="America/Chicago", send_hour=7)


def send_checkin(reader: Subscriber):
    """Deliver the course's check-in to `reader` through the real send path; returns the Delivery."""
    from lessons.models import Lesson
    from subscribers.models import Delivery
    from subscribers.sending import drip

    lesson = Lesson.objects.get(course=reader.course, kind="checkin")
    delivery = Delivery.objects.create(
        subscriber=reader, lesson=lesson, version=lesson.current_version, due_at=reader.enrolled_at
    )
    assert drip.send_delivery(delivery.pk) == "sent"
    return delivery


@pytest.fixture
def eager_tasks():
    """Run queued Celery tasks in-process (the reply tests assert on what processing did)."""
    from config.celery import app

    # Tasks are queued by name (subscribers.queueing): a task the app has not imported yet would
    # go to the broker even when eager, so a test run alone must register them first.
    app.loader.import_default_modules()
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False
