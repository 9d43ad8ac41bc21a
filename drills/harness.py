"""What every drill stands on: its own services, the product's processes, a mail sink and one row of results.

A drill never stops, restarts or flushes the machine's shared PostgreSQL or Redis. A drill that
takes a service down starts its own (`RedisServer`, `PostgresCluster`) on a free loopback port;
one that only needs a database creates a throwaway one on the shared server (`throwaway_database`)
and drops it at the end. Everything a drill starts is registered on its `ExitStack` and stopped
when the drill ends, also on failure, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import email.parser
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
SHARED_POSTGRES = os.environ.get("DRILL_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")
WEBHOOK_AUTH = "drill:webhook-secret"
STRIPE_SECRET = "whsec_drill_0123456789abcdef"


# --- Results ------------------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the summary table."""

    drill: str
    done: str = ""
    expected: str = ""
    lost: int | None = None
    duplicates: int | None = None
    errors_500: int | None = None
    seconds: float = 0.0
    passed: bool = False
    notes: list[str] = field(default_factory=list)


COLUMNS = (("drill", 16), ("what was done", 60), ("expected", 40), ("lost", 5), ("dup", 5), ("500s", 5),
           ("secs", 6), ("result", 6))  # fmt: skip


def _cell(value) -> str:
    return "-" if value is None else str(value)


def table(rows: list[Row]) -> str:
    def line(values) -> str:
        return " | ".join(str(v).ljust(width)[:width] if i < 3 else str(v).rjust(width)
                          for i, (v, (_, width)) in enumerate(zip(values, COLUMNS, strict=True)))  # fmt: skip

    out = [line(name for name, _ in COLUMNS), "-+-".join("-" * width for _, width in COLUMNS)]
    for row in rows:
        out.append(line((row.drill, row.done, row.expected, _cell(row.lost), _cell(row.duplicates),
                         _cell(row.errors_500), f"{row.seconds:.0f}", "PASS" if row.passed else "FAIL")))  # fmt: skip
    return "\n".join(out)


def report(row: Row) -> int:
    """Print the drill's row (and notes), save it for `make drills`, return the exit code."""
    print(table([row]))
    for note in row.notes:
        print(f"  {note}")
    results = os.environ.get("DRILL_RESULTS")
    if results:
        Path(results).mkdir(parents=True, exist_ok=True)
        (Path(results) / f"{row.drill}.json").write_text(json.dumps(asdict(row)))
    return 0 if row.passed else 1


def run(name: str, drill: Callable[[ExitStack, Row], None]) -> None:
    """Run one drill with cleanup guaranteed; exit non-zero when it falls short or breaks."""
    row = Row(drill=name)
    started = time.monotonic()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        with ExitStack() as stack:
            drill(stack, row)
    except BaseException as exc:  # a drill that breaks is a failed drill, with the reason on its row
        row.passed = False
        row.notes.append(f"drill broke: {type(exc).__name__}: {exc}")
        traceback.print_exc()
    row.seconds = time.monotonic() - started
    sys.exit(report(row))


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def wait_for(condition: Callable[[], bool], *, what: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {seconds:.0f}s waiting for {what}")
        time.sleep(0.1)


# --- Ports and folders --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def workdir(stack: ExitStack, name: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=f"drill-{name}-"))
    path.chmod(0o755)
    keep = os.environ.get("DRILL_KEEP_LOGS")
    stack.callback(lambda: None if keep else shutil.rmtree(path, ignore_errors=True))
    return path


# --- Processes ----------------------------------------------------------------------------------


class Process:
    """A child process in its own process group (so kill -9 takes its children with it)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name, self.argv, self.env, self.log_path = name, argv, env, log_path
        self.process: subprocess.Popen | None = None

    def start(self) -> Process:
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(self.argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
        return self

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def signal(self, sig: int) -> None:
        if self.running:
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)

    def kill(self) -> None:
        """kill -9 the whole process group, as a crash or an OOM kill would."""
        self.signal(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(10)

    def stop(self, seconds: float = 10) -> None:
        self.signal(signal.SIGTERM)
        if self.process is not None:
            try:
                self.process.wait(seconds)
            except subprocess.TimeoutExpired:
                self.kill()


def spawn(stack: ExitStack, name: str, argv: list[str], env: dict[str, str], logs: Path, **kw) -> Process:
    process = Process(name, argv, env, logs / f"{name}.log", **kw).start()
    stack.callback(process.stop)
    return process


def celery_worker(stack: ExitStack, name: str, env: dict[str, str], logs: Path, pool: str = "solo") -> Process:
    argv = [PYTHON, "-m", "celery", "-A", "config", "worker", f"--pool={pool}", "--loglevel=INFO",
            "--without-heartbeat", "--without-gossip", "--without-mingle",
            "-n", f"{name}-{os.getpid()}@%h"]  # fmt: skip
    return spawn(stack, name, argv, env, logs)


def wait_ready(worker: Process, seconds: float = 30) -> None:
    wait_for(lambda: "ready." in worker.log_text(), what=f"{worker.name} to start", seconds=seconds)


def gunicorn(
    stack: ExitStack, env: dict[str, str], logs: Path, workers: int = 3, threads: int = 4
) -> tuple[Process, str]:
    port = free_port()
    argv = [PYTHON, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
            "--threads", str(threads), "--worker-class", "gthread", "--timeout", "60", "--backlog", "512"]  # fmt: skip
    web = spawn(stack, "web", argv, env, logs)
    wait_for(lambda: port_open(port) or not web.running, what="gunicorn to listen", seconds=30)
    if not web.running:
        raise RuntimeError(f"gunicorn did not start:\n{web.log_text()[-2000:]}")
    return web, f"http://127.0.0.1:{port}"


# --- Services of our own ------------------------------------------------------------------------


class RedisServer:
    """A redis-server of the drill's own on a free port: no persistence, so a restart loses
    every queued message, as a crashed broker without AOF would."""

    def __init__(self, stack: ExitStack, logs: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = Process("redis", ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                                         "--save", "", "--appendonly", "no", "--daemonize", "no"],
                               dict(os.environ), logs / "redis.log")  # fmt: skip
        stack.callback(self.process.stop)
        self.start()

    def start(self) -> None:
        self.process.start()
        wait_for(lambda: port_open(self.port), what="redis-server to listen", seconds=10)

    def stop(self) -> None:
        self.process.kill()


class PostgresCluster:
    """A PostgreSQL cluster of the drill's own in a temp folder, run as the `postgres` user
    with trust auth on a free loopback port."""

    def __init__(self, stack: ExitStack, folder: Path) -> None:
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
        if not bins:
            raise RuntimeError("PostgreSQL server binaries not found under /usr/lib/postgresql")
        self.bin = bins[-1]
        self.port = free_port()
        self.data = folder / "pgdata"
        self.log = folder / "postgres.log"
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/pivotpath"
        folder.chmod(0o777)
        self._as_postgres(self.bin / "initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "--no-sync",
                          "-E", "UTF8", "--locale=C.UTF-8")  # fmt: skip
        stack.callback(self._remove)
        self.start()
        self._as_postgres(self.bin / "createdb", "-h", "127.0.0.1", "-p", self.port, "-U", "postgres", "pivotpath")

    def _as_postgres(self, *argv) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *map(str, argv)], check=True, cwd="/tmp",
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip

    def _ctl(self, *argv) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60"
        self._as_postgres(self.bin / "pg_ctl", "-D", self.data, "-l", self.log, "-o", options, "-w", "-t", "30", *argv)

    def start(self) -> None:
        self._ctl("start")

    def restart(self) -> None:
        """Fast shutdown (every session is cut off mid-transaction) and start again."""
        self._ctl("-m", "fast", "restart")

    def stop(self) -> None:
        self._ctl("-m", "immediate", "stop")

    def _remove(self) -> None:
        with suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.data, ignore_errors=True)


def throwaway_database(stack: ExitStack, name: str) -> str:
    """A fresh database on the shared PostgreSQL, dropped when the drill ends."""
    import psycopg

    db = f"drill_{name}_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(f"{SHARED_POSTGRES}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')

    def drop() -> None:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(f"{SHARED_POSTGRES}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')

    stack.callback(drop)
    return f"{SHARED_POSTGRES}/{db}"


# --- The product, configured for a drill --------------------------------------------------------


def product_env(database_url: str, redis_url: str, var_dir: Path, **overrides: str) -> dict[str, str]:
    """The environment of every process of the product in a drill: production-like (DEBUG off),
    plain HTTP on loopback, webhooks with known secrets, time compressed where asked."""
    env = {
        **os.environ,
        "ENV_FILE": "",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "false",
        "SECRET_KEY": "drill-" + "k" * 60,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SITE_URL": "http://127.0.0.1:8000",
        "SECURE_SSL_REDIRECT": "false",
        "SESSION_COOKIE_SECURE": "false",
        "CSRF_COOKIE_SECURE": "false",
        "SECURE_HSTS_SECONDS": "0",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "VAR_DIR": str(var_dir),
        "ANYMAIL_ESP": "",
        "ANYMAIL_WEBHOOK_SECRET": WEBHOOK_AUTH,
        "STRIPE_WEBHOOK_SECRET": STRIPE_SECRET,
        "STRIPE_SECRET_KEY": "",
        "LOCAL_CHECKOUT": "false",
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
    }
    env.update(overrides)
    return env


def setup_django(env: dict[str, str], *, migrate: bool = True, lessons: bool = True) -> None:
    """Configure this (controller) process as the product with `env`, migrate, import the shipped lessons."""
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    import logging

    from django.core.management import call_command

    logging.getLogger().setLevel(logging.WARNING)  # the drill prints its own progress
    logging.getLogger("mail.log").setLevel(logging.ERROR)

    if migrate:
        call_command("migrate", verbosity=0, interactive=False)
    if lessons:
        from lessons.importing import import_path

        import_path(ROOT / "lessons" / "content")


# --- A real SMTP sink ---------------------------------------------------------------------------


class SmtpSink:
    """aiosmtpd on loopback, counting what arrives by Message-ID (each delivery has a stable one)."""

    def __init__(self, stack: ExitStack) -> None:
        from aiosmtpd.controller import Controller

        self.port = free_port()
        self.by_message_id: Counter[str] = Counter()
        self.by_recipient: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._parser = email.parser.BytesHeaderParser()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        stack.callback(self.controller.stop)

    async def handle_DATA(self, server, session, envelope) -> str:
        headers = self._parser.parsebytes(envelope.content)
        message_id = str(headers.get("Message-ID", "")).strip()
        with self._lock:
            self.by_message_id[message_id] += 1
            for recipient in envelope.rcpt_tos:
                self.by_recipient[recipient.lower()] += 1
        return "250 OK"

    @property
    def received(self) -> int:
        with self._lock:
            return sum(self.by_message_id.values())

    def duplicates(self) -> int:
        with self._lock:
            return sum(count - 1 for count in self.by_message_id.values() if count > 1)

    def env(self) -> dict[str, str]:
        return {"EMAIL_BACKEND": "subscribers.sending.smtp.EmailBackend", "EMAIL_HOST": "127.0.0.1",
                "EMAIL_PORT": str(self.port)}  # fmt: skip


def delivery_accounting(sink: SmtpSink) -> tuple[int, int, int]:
    """(deliveries, lost, left in `sending`): a delivery is lost when its Message-ID never reached the sink."""
    from subscribers.models import Delivery
    from subscribers.sending.emails import sender_domain

    rows = list(Delivery.objects.values_list("pk", "subscriber__course__slug", "state"))
    domain = sender_domain()
    with sink._lock:
        received = set(sink.by_message_id)
    lost = sum(1 for pk, slug, _ in rows if f"<delivery-{pk}.{slug}@{domain}>" not in received)
    sending = sum(1 for *_, state in rows if state == Delivery.State.SENDING)
    return len(rows), lost, sending
