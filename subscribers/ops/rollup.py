"""The dashboard's daily rollup: its figures by UTC day, kept exact whatever arrives late.

Three tables (subscribers.models): `EmailDay` (per lesson: sent, delivered, bounced, complained,
failed, answered check-ins), `ReplyDay` (per course and status) and `EnrolmentDay` (readers per
enrolment day, course, status, stage and destination). A figure is the sum of a table's rows.

How they stay right:

- **Triggers record every change.** Row triggers on deliveries, replies and readers (installed by
  the migration and again after every `migrate`: `install()`) append a `pending` row for each
  change that moves a figure: the old row's part subtracted, the new row's added. So a send
  recorded hours later, a bounce for last month's email, a reply to an old check-in, a reader
  changing stage or status, a reader erased: each lands on the day it belongs to, in the same
  transaction as the change. Appending never waits on another writer (no shared counter row is
  updated), so sends do not queue behind each other.
- **A check-in counts as answered once**, however many replies it gets: a reply's trigger adds
  one only when it is the check-in's first reply and takes one away with its last (a lock per
  check-in on PostgreSQL, so two replies arriving together count once).
- **`fold()`** (the beat task `fold_daily_figures`, every tick interval) adds the pending rows into
  one row per key and deletes them, in one transaction; the dashboard sums folded and pending rows
  alike, so it is exact before and after a fold. Stopped beat only makes the dashboard slower.
- **`rebuild()`** (`manage.py rebuild_daily_figures`) recomputes the tables from deliveries,
  replies and readers, four weeks at a time, each step under a lock that holds the triggers back
  while it runs (about a second with 20,000,000 deliveries).

Days are UTC days (settings.TIME_ZONE), as the dashboard's `TruncDate` groups them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.db import connection, connections, transaction
from django.db.models import Count, Exists, Max, Min, OuterRef
from django.db.models.functions import TruncDate

from subscribers.models import Delivery, EmailDay, EnrolmentDay, Reply, ReplyDay, Subscriber

OUTCOMES = ("delivered", "bounced", "complained")
REBUILD_DAYS = 28  # a step: four weeks of emails and replies (index-only scans but the answered check-ins)
# pg_advisory_xact_lock keys: folds and rebuilds one at a time; replies to one check-in one at a time.
FOLD_LOCK, ANSWER_LOCK = 0x526F6C6C, 0x526F6C6D


@dataclass(frozen=True)
class Table:
    model: type
    keys: tuple[str, ...]  # column names, `day` first
    figures: tuple[str, ...]


EMAILS = Table(EmailDay, ("day", "lesson_id"), ("sent", "delivered", "bounced", "complained", "failed", "answered"))
REPLIES = Table(ReplyDay, ("day", "course_id", "status"), ("replies",))
READERS = Table(EnrolmentDay, ("day", "course_id", "status", "stage", "destination"), ("readers",))
TABLES = (EMAILS, REPLIES, READERS)


# --- Folding -----------------------------------------------------------------------------------


def fold() -> int:
    """Add every pending row into its key's folded row (dropping rows that come to zero), in one
    transaction. Returns how many pending rows it folded."""
    folded = 0
    with transaction.atomic():
        _serialise()
        for table in TABLES:
            folded += _fold(table)
    return folded


def _fold(table: Table) -> int:
    db_table = table.model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {db_table} WHERE pending RETURNING {', '.join(table.keys + table.figures)}")
        rows = cursor.fetchall()
    if not rows:
        return 0
    width = len(table.keys)
    changes: dict[tuple, list[int]] = {}
    for row in rows:
        key = (_as_date(row[0]), *row[1:width])
        sums = changes.setdefault(key, [0] * len(table.figures))
        for i, value in enumerate(row[width:]):
            sums[i] += value
    existing = {
        tuple(getattr(obj, name) for name in table.keys): obj
        for obj in table.model.objects.filter(pending=False, day__in={key[0] for key in changes})
    }
    changed, added, emptied = [], [], []
    for key, sums in changes.items():
        if not any(sums):
            continue
        obj = existing.get(key)
        if obj is None:
            added.append(table.model(pending=False, **dict(zip(table.keys, key, strict=True)),
                                     **dict(zip(table.figures, sums, strict=True))))  # fmt: skip
            continue
        for name, value in zip(table.figures, sums, strict=True):
            setattr(obj, name, getattr(obj, name) + value)
        (changed if any(getattr(obj, name) for name in table.figures) else emptied).append(obj.pk)
    by_pk = {obj.pk: obj for obj in existing.values()}
    table.model.objects.bulk_update([by_pk[pk] for pk in changed], table.figures, batch_size=500)
    table.model.objects.filter(pk__in=emptied).delete()
    table.model.objects.bulk_create(added, batch_size=500)
    return len(rows)


def _as_date(value) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value


def _serialise() -> None:
    """One fold or rebuild step at a time (SQLite: its write transaction already is)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, 0)", [FOLD_LOCK])


# --- Rebuilding --------------------------------------------------------------------------------


def rebuild(progress: Callable[[int, int], None] | None = None) -> dict[str, int]:
    """Recompute the three tables from deliveries, replies and readers. `progress(done, total)`
    is told after each step (four weeks of emails and replies; then the readers). Safe while the
    product runs: each step locks the table it rewrites, so changes meanwhile wait and count."""
    first, last = _span()
    weeks = list(_weeks(first, last))
    total = len(weeks) + 1
    for done, (start, end) in enumerate(weeks, 1):
        _rebuild_emails(start, end)
        _rebuild_replies(start, end)
        if progress:
            progress(done, total)
    _rebuild_readers()
    if progress:
        progress(total, total)
    return {table.model.__name__: table.model.objects.count() for table in TABLES}


def _span() -> tuple[date | None, date | None]:
    """The first and last day any source row or rollup row falls on."""
    instants: list[datetime | date] = []
    for queryset, field in (
        (Delivery.objects.filter(sent_at__isnull=False), "sent_at"),
        (Delivery.objects.exclude(outcome=""), "outcome_at"),
        (Delivery.objects.filter(state=Delivery.State.FAILED), "created_at"),
        (Reply.objects.all(), "received_at"),
        (EmailDay.objects.all(), "day"),
        (ReplyDay.objects.all(), "day"),
    ):
        span = queryset.aggregate(first=Min(field), last=Max(field))
        instants += [value for value in span.values() if value is not None]
    days = [value.astimezone(UTC).date() if isinstance(value, datetime) else value for value in instants]
    return (min(days), max(days)) if days else (None, None)


def _weeks(first: date | None, last: date | None) -> Iterator[tuple[date, date]]:
    if first is None or last is None:
        return
    while first <= last:
        yield first, first + timedelta(days=REBUILD_DAYS)
        first += timedelta(days=REBUILD_DAYS)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def _rebuild_emails(start: date, end: date) -> None:
    since, until = _midnight(start), _midnight(end)
    sums: dict[tuple, dict[str, int]] = {}

    def add(rows, figure: Callable[[dict], str]) -> None:
        for row in rows:
            sums.setdefault((row["day"], row["lesson"]), dict.fromkeys(EMAILS.figures, 0))[figure(row)] += row["n"]

    deliveries = Delivery.objects.all()
    with _rewriting(EMAILS):
        EmailDay.objects.filter(day__gte=start, day__lt=end).delete()
        sent = deliveries.filter(sent_at__gte=since, sent_at__lt=until).annotate(day=TruncDate("sent_at"))
        add(sent.values("day", "lesson").annotate(n=Count("*")), lambda row: "sent")
        answered = sent.filter(Exists(Reply.objects.filter(delivery=OuterRef("pk")))).values("day", "lesson")
        answered = answered.annotate(n=Count("*"))
        add(answered, lambda row: "answered")
        outcomes = (
            deliveries.filter(outcome_at__gte=since, outcome_at__lt=until)
            .exclude(outcome="")
            .annotate(day=TruncDate("outcome_at"))
            .values("day", "lesson", "outcome")
            .annotate(n=Count("*"))
        )
        add([row for row in outcomes if row["outcome"] in OUTCOMES], lambda row: row["outcome"])
        failed = deliveries.filter(state=Delivery.State.FAILED, created_at__gte=since, created_at__lt=until)
        add(failed.annotate(day=TruncDate("created_at")).values("day", "lesson").annotate(n=Count("*")),
            lambda row: "failed")  # fmt: skip
        EmailDay.objects.bulk_create(
            [EmailDay(day=day, lesson_id=lesson, pending=False, **figures) for (day, lesson), figures in sums.items()],
            batch_size=1_000,
        )


def _rebuild_replies(start: date, end: date) -> None:
    rows = (
        Reply.objects.filter(received_at__gte=_midnight(start), received_at__lt=_midnight(end))
        .annotate(day=TruncDate("received_at"))
        .values("day", "subscriber__course", "status")
        .annotate(n=Count("*"))
    )
    with _rewriting(REPLIES):
        ReplyDay.objects.filter(day__gte=start, day__lt=end).delete()
        ReplyDay.objects.bulk_create(
            [ReplyDay(day=row["day"], course_id=row["subscriber__course"], status=row["status"], replies=row["n"],
                      pending=False) for row in rows],
            batch_size=1_000,
        )  # fmt: skip


def _rebuild_readers() -> None:
    with _rewriting(READERS):
        EnrolmentDay.objects.all().delete()
        rows = (
            Subscriber.objects.annotate(day=TruncDate("enrolled_at"))
            .values("day", "course", "status", "stage", "destination")
            .annotate(n=Count("*"))
        )
        EnrolmentDay.objects.bulk_create(
            [EnrolmentDay(day=row["day"], course_id=row["course"], status=row["status"], stage=row["stage"],
                          destination=row["destination"], readers=row["n"], pending=False) for row in rows],
            batch_size=1_000,
        )  # fmt: skip


class _rewriting:
    """A transaction in which `table` is rewritten: on PostgreSQL its triggers' appends wait
    (EXCLUSIVE still lets the dashboard read), so no change is counted twice or lost."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.atomic = transaction.atomic()

    def __enter__(self) -> None:
        self.atomic.__enter__()
        _serialise()
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"LOCK TABLE {self.table.model._meta.db_table} IN EXCLUSIVE MODE")

    def __exit__(self, *exc) -> bool | None:
        return self.atomic.__exit__(*exc)


# --- The triggers ------------------------------------------------------------------------------


def _day(vendor: str, column: str) -> str:
    return f"({column} AT TIME ZONE 'UTC')::date" if vendor == "postgresql" else f"date({column})"


def _delivery_parts(vendor: str, row: str, sign: int) -> str:
    """A delivery row's part of EmailDay: sent (and answered) on its sent day, its outcome on the
    outcome's day, a failure on the day it was planned."""
    s = sign
    day = lambda column: _day(vendor, f"{row}.{column}")  # noqa: E731
    outcome = lambda name: f"CASE WHEN {row}.outcome = '{name}' THEN {s} ELSE 0 END"  # noqa: E731
    return (
        "INSERT INTO subscribers_emailday (day, lesson_id, sent, delivered, bounced, complained, failed, answered, "
        "pending) "
        f"SELECT {day('sent_at')}, {row}.lesson_id, {s}, 0, 0, 0, 0, CASE WHEN EXISTS (SELECT 1 FROM "
        f"subscribers_reply WHERE delivery_id = {row}.id) THEN {s} ELSE 0 END, TRUE WHERE {row}.sent_at IS NOT NULL "
        f"UNION ALL SELECT {day('outcome_at')}, {row}.lesson_id, 0, {outcome('delivered')}, {outcome('bounced')}, "
        f"{outcome('complained')}, 0, 0, TRUE WHERE {row}.outcome_at IS NOT NULL AND {row}.outcome IN "
        f"('delivered', 'bounced', 'complained') "
        f"UNION ALL SELECT {day('created_at')}, {row}.lesson_id, 0, 0, 0, 0, {s}, 0, TRUE WHERE {row}.state = 'failed'"
    )


def _reply_parts(vendor: str, row: str, sign: int) -> str:
    return (
        "INSERT INTO subscribers_replyday (day, course_id, status, replies, pending) "
        f"SELECT {_day(vendor, f'{row}.received_at')}, (SELECT course_id FROM subscribers_subscriber WHERE id = "
        f"{row}.subscriber_id), {row}.status, {sign}, TRUE"
    )


def _answer(vendor: str, row: str, sign: int) -> str:
    """Run before the reply row changes: its check-in's first reply arriving (+1) or its last one
    going (-1) moves the check-in's `answered` on the day it was sent."""
    others = f"(SELECT count(*) FROM subscribers_reply WHERE delivery_id = {row}.delivery_id)"
    first_or_last = f"{others} = 0" if sign > 0 else f"{others} = 1"
    return (
        "INSERT INTO subscribers_emailday (day, lesson_id, sent, delivered, bounced, complained, failed, answered, "
        f"pending) SELECT {_day(vendor, 'd.sent_at')}, d.lesson_id, 0, 0, 0, 0, 0, {sign}, TRUE "
        f"FROM subscribers_delivery d WHERE d.id = {row}.delivery_id AND d.sent_at IS NOT NULL AND {first_or_last}"
    )


def _reader_parts(vendor: str, row: str, sign: int) -> str:
    return (
        "INSERT INTO subscribers_enrolmentday (day, course_id, status, stage, destination, readers, pending) "
        f"SELECT {_day(vendor, f'{row}.enrolled_at')}, {row}.course_id, {row}.status, {row}.stage, "
        f"{row}.destination, {sign}, TRUE"
    )


def _course_moved(vendor: str) -> str:
    """A reader moved to another course takes their replies' counts along."""
    day = _day(vendor, "r.received_at")
    return (
        "INSERT INTO subscribers_replyday (day, course_id, status, replies, pending) "
        f"SELECT {day}, course.id, r.status, course.sign * count(*), TRUE FROM subscribers_reply r, "
        "(SELECT OLD.course_id AS id, -1 AS sign UNION ALL SELECT NEW.course_id, 1) AS course "
        f"WHERE r.subscriber_id = NEW.id AND OLD.course_id <> NEW.course_id GROUP BY {day}, course.id, r.status, "
        "course.sign"
    )


def _changed(vendor: str, columns: tuple[str, ...]) -> str:
    differ = "IS DISTINCT FROM" if vendor == "postgresql" else "IS NOT"
    return " OR ".join(f"OLD.{column} {differ} NEW.{column}" for column in columns)


DELIVERY_COLUMNS = ("sent_at", "outcome", "outcome_at", "created_at", "lesson_id", "state")
READER_COLUMNS = ("enrolled_at", "course_id", "status", "stage", "destination")
COUNTED = "{row}.sent_at IS NOT NULL OR {row}.outcome_at IS NOT NULL OR {row}.state = 'failed'"


@dataclass(frozen=True)
class Trigger:
    name: str
    table: str
    when: str  # BEFORE or AFTER
    event: str  # INSERT, UPDATE or DELETE
    condition: str
    statements: tuple[str, ...]


def triggers(vendor: str) -> list[Trigger]:
    d, r, s = "subscribers_delivery", "subscribers_reply", "subscribers_subscriber"
    changed_state = "(OLD.state = 'failed') <> (NEW.state = 'failed')"
    delivery_update = f"{_changed(vendor, DELIVERY_COLUMNS[:-1])} OR {changed_state}"
    return [
        Trigger("rollup_delivery_insert", d, "AFTER", "INSERT", COUNTED.format(row="NEW"),
                (_delivery_parts(vendor, "NEW", 1),)),
        Trigger("rollup_delivery_update", d, "AFTER", "UPDATE", delivery_update,
                (_delivery_parts(vendor, "OLD", -1), _delivery_parts(vendor, "NEW", 1))),
        Trigger("rollup_delivery_delete", d, "AFTER", "DELETE", COUNTED.format(row="OLD"),
                (_delivery_parts(vendor, "OLD", -1),)),
        Trigger("rollup_reply_insert", r, "AFTER", "INSERT", "", (_reply_parts(vendor, "NEW", 1),)),
        Trigger("rollup_reply_update", r, "AFTER", "UPDATE",
                _changed(vendor, ("received_at", "subscriber_id", "status")),
                (_reply_parts(vendor, "OLD", -1), _reply_parts(vendor, "NEW", 1))),
        Trigger("rollup_reply_delete", r, "AFTER", "DELETE", "", (_reply_parts(vendor, "OLD", -1),)),
        Trigger("rollup_answer_insert", r, "BEFORE", "INSERT", "NEW.delivery_id IS NOT NULL",
                (_answer(vendor, "NEW", 1),)),
        Trigger("rollup_answer_update", r, "BEFORE", "UPDATE", _changed(vendor, ("delivery_id",)),
                (_answer(vendor, "OLD", -1), _answer(vendor, "NEW", 1))),
        Trigger("rollup_answer_delete", r, "BEFORE", "DELETE", "OLD.delivery_id IS NOT NULL",
                (_answer(vendor, "OLD", -1),)),
        Trigger("rollup_reader_insert", s, "AFTER", "INSERT", "", (_reader_parts(vendor, "NEW", 1),)),
        Trigger("rollup_reader_update", s, "AFTER", "UPDATE", _changed(vendor, READER_COLUMNS),
                (_reader_parts(vendor, "OLD", -1), _reader_parts(vendor, "NEW", 1), _course_moved(vendor))),
        Trigger("rollup_reader_delete", s, "AFTER", "DELETE", "", (_reader_parts(vendor, "OLD", -1),)),
    ]  # fmt: skip


def _postgresql(trigger: Trigger) -> list[str]:
    locks = ""
    if trigger.name.startswith("rollup_answer"):
        # Two replies to one check-in in two transactions: the second waits, then sees the first.
        locks = "".join(
            f"IF {row}.delivery_id IS NOT NULL THEN PERFORM pg_advisory_xact_lock({ANSWER_LOCK}, "
            f"hashint8({row}.delivery_id)); END IF; "
            for row in (("OLD", "NEW") if trigger.event == "UPDATE" else ("OLD",) if trigger.event == "DELETE"
                        else ("NEW",))
        )  # fmt: skip
    result = "NULL" if trigger.when == "AFTER" else ("OLD" if trigger.event == "DELETE" else "NEW")
    body = "".join(f"{statement}; " for statement in trigger.statements)
    condition = f" WHEN ({trigger.condition})" if trigger.condition else ""
    return [
        f"CREATE OR REPLACE FUNCTION subscribers_{trigger.name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN {locks}{body}RETURN {result}; END $$",
        f"CREATE OR REPLACE TRIGGER subscribers_{trigger.name} {trigger.when} {trigger.event} ON {trigger.table} "
        f"FOR EACH ROW{condition} EXECUTE FUNCTION subscribers_{trigger.name}()",
    ]


# On SQLite a DELETE runs the triggers even while a table is emptied whole (the test suite's
# flush): a row whose lesson or course is already gone adds no figure, or its key would dangle.
SQLITE_DELETE_GUARDS = {
    "rollup_delivery_delete": "EXISTS (SELECT 1 FROM lessons_lesson WHERE id = OLD.lesson_id)",
    "rollup_reader_delete": "EXISTS (SELECT 1 FROM course_course WHERE id = OLD.course_id)",
    "rollup_reply_delete": "(OLD.subscriber_id IS NULL OR EXISTS (SELECT 1 FROM subscribers_subscriber s "
    "JOIN course_course c ON c.id = s.course_id WHERE s.id = OLD.subscriber_id))",
    "rollup_answer_delete": "EXISTS (SELECT 1 FROM subscribers_delivery d JOIN lessons_lesson l "
    "ON l.id = d.lesson_id WHERE d.id = OLD.delivery_id)",
}


def _sqlite(trigger: Trigger) -> list[str]:
    guard = SQLITE_DELETE_GUARDS.get(trigger.name)
    wanted = " AND ".join(f"({part})" for part in (trigger.condition, guard) if part)
    condition = f" WHEN {wanted}" if wanted else ""
    body = "".join(f"{statement}; " for statement in trigger.statements)
    return [
        f"DROP TRIGGER IF EXISTS subscribers_{trigger.name}",
        f"CREATE TRIGGER subscribers_{trigger.name} {trigger.when} {trigger.event} ON {trigger.table} "
        f"FOR EACH ROW{condition} BEGIN {body}END",
    ]


def installed(using=None) -> set[str]:
    """The rollup triggers the database has now."""
    conn = using or connection
    with conn.cursor() as cursor:
        if conn.vendor == "postgresql":
            cursor.execute("SELECT tgname FROM pg_trigger WHERE tgname LIKE 'subscribers_rollup_%'")
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'subscribers_rollup_%'")
        return {row[0] for row in cursor.fetchall()}


def install(using=None) -> bool:
    """Create or replace the triggers. Returns whether any was missing (then changes may have
    gone uncounted, e.g. SQLite drops a table's triggers when a migration rebuilds the table)."""
    conn = using or connection
    wanted = triggers(conn.vendor)
    missing = {f"subscribers_{trigger.name}" for trigger in wanted} - installed(conn)
    make = _postgresql if conn.vendor == "postgresql" else _sqlite
    with transaction.atomic(using=conn.alias), conn.cursor() as cursor:
        for trigger in wanted:
            for statement in make(trigger):
                cursor.execute(statement)
    return bool(missing)


def uninstall(using=None) -> None:
    conn = using or connection
    with conn.cursor() as cursor:
        for trigger in triggers(conn.vendor):
            if conn.vendor == "postgresql":
                cursor.execute(f"DROP TRIGGER IF EXISTS subscribers_{trigger.name} ON {trigger.table}")
                cursor.execute(f"DROP FUNCTION IF EXISTS subscribers_{trigger.name}()")
            else:
                cursor.execute(f"DROP TRIGGER IF EXISTS subscribers_{trigger.name}")


def after_migrate(using: str = "default") -> str:
    """After every `migrate` (and a test database's flush): the triggers are there, and the rollup
    agrees with its sources. Rebuilds only when a trigger was missing; empties it when its sources
    are empty."""
    conn = connections[using]
    if EmailDay._meta.db_table not in conn.introspection.table_names():
        return "not migrated"
    if install(conn):
        rebuild()
        return "rebuilt"
    if not (Subscriber.objects.exists() or Delivery.objects.exists() or Reply.objects.exists()):
        for table in TABLES:
            table.model.objects.all().delete()
    return "checked"
