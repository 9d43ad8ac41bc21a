"""The send journal: a note of each message the ESP accepted, written the moment it answers.

A chunk of sends (`drip.send_deliveries`) records its sends in the database once, at its end.
Until then each accepted message is one line in the chunk's journal file: one `write(2)` on an
append-only file, no fsync. A process killed with `kill -9` loses nothing it wrote (the kernel
holds it), so a worker that dies mid-chunk leaves behind exactly what it sent, and only the
message whose answer it was reading is in doubt: at most one resend per crash.

The owner holds an exclusive `flock` on its file for as long as the chunk runs; the kernel lets
go when the process dies. `drip.replay_journals()` reads every journal (recover_stale and the
stale-claim path call it before sending anything again), records what they hold, and deletes
the ones whose owner is gone. Recording is conditional (the row must still be `sending`), so a
line recorded twice changes nothing.

Journals live on the worker's host (SEND_JOURNAL_DIR, one folder per database), shared by the
workers there. A host lost together with its disk loses its unrecorded lines: those deliveries,
at most one chunk, are sent again with the same Message-ID, which mail clients fold. A database
outage mid-chunk loses nothing: the file stays and is replayed once the database is back.
"""

from __future__ import annotations

import fcntl
import os
import re
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.db import connection


@dataclass(frozen=True)
class Entry:
    delivery_id: int
    provider_id: str
    at: datetime


def directory() -> Path:
    """This database's journals (a folder per database, so two deployments on one host never
    replay each other's lines)."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(connection.settings_dict["NAME"]))[-80:]
    path = Path(settings.SEND_JOURNAL_DIR) / f"{connection.vendor}-{name}"
    path.mkdir(parents=True, exist_ok=True)
    return path


class Journal:
    """One chunk's journal: `with Journal() as journal: ... journal.sent(...)`, then
    `journal.done()` once the database holds every line. Left without `done()` (an exception,
    a crash), the file stays for `replay_journals()`."""

    def __init__(self) -> None:
        folder = directory()
        name = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex}"
        # Locked before it gets the name replay looks for, so no reader ever sees it unowned.
        opening = folder / f"{name}.opening"
        self._fd = os.open(opening, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        self.path = folder / f"{name}.journal"
        os.rename(opening, self.path)
        self._done = False

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc) -> None:
        if self._done:
            self.path.unlink(missing_ok=True)
        os.close(self._fd)  # releases the lock

    def sent(self, delivery_id: int, provider_id: str, at: datetime) -> None:
        line = f"{delivery_id}\t{at.timestamp():.6f}\t{_one_line(provider_id)}\n"
        os.write(self._fd, line.encode())

    def done(self) -> None:
        self._done = True


def _one_line(value: str) -> str:
    return value.replace("\t", " ").replace("\n", " ").replace("\r", " ")[:255]


def read_all() -> tuple[list[Entry], list[Path]]:
    """Every line in this database's journals, and the journals whose owner is gone (to delete
    once their lines are recorded). A live owner's lines are read too: recording them early is
    harmless, and a stale claim must not resend what they hold."""
    entries: list[Entry] = []
    orphaned: list[Path] = []
    for path in sorted(directory().glob("*.journal")):
        try:
            with open(path, "rb") as file:
                try:
                    fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    orphaned.append(path)
                except BlockingIOError:
                    pass  # its owner is still sending
                entries.extend(_parse(file))
        except FileNotFoundError:
            continue  # its owner finished meanwhile
    return entries, orphaned


def _parse(lines) -> Iterator[Entry]:
    for raw in lines:
        parts = raw.decode(errors="replace").rstrip("\n").split("\t")
        if len(parts) != 3 or not raw.endswith(b"\n"):
            continue  # not a whole line
        try:
            yield Entry(int(parts[0]), parts[2], datetime.fromtimestamp(float(parts[1]), UTC))
        except ValueError:
            continue
