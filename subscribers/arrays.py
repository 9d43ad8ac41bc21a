"""Array statements on PostgreSQL: the tick's few statements per batch carry a thousand readers'
values as array parameters and read their histories back as arrays.

Django's cursors quote every parameter into the statement's text, which for a thousand-element
array is most of the statement's cost on the client. `binary_cursor()` gives a cursor on the
same connection (inside the same transaction, logged and counted like any other) whose
parameters are bound on the server: written `%b`, they travel in binary, and so do its results.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from django.db import connection
from django.db.backends.utils import CursorWrapper


@contextmanager
def binary_cursor() -> Iterator[CursorWrapper]:
    """A cursor for `%b` parameters and binary results on the default (PostgreSQL) connection."""
    connection.ensure_connection()
    connection.validate_thread_sharing()
    raw = psycopg.Cursor(connection.connection)
    raw.format = psycopg.pq.Format.BINARY
    wrapped = connection.make_debug_cursor(raw) if connection.queries_logged else connection.make_cursor(raw)
    with wrapped:
        yield wrapped
