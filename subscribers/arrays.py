"""Array statements on PostgreSQL: the tick's few statements per batch carry a thousand readers'
values as array parameters and read their histories back as arrays.

Django's cursors quote every parameter into the statement's text, which for a thousand-element
array is most of the statement's cost on the client. `binary_cursor()` gives a cursor on the
same connection (inside the same transaction, logged and counted like any other) whose
parameters are bound on the server: written `%b`, they travel in binary, and so do its results.
Its statements are never prepared, so each is planned for its own values (a plan kept for "these
thousand readers" may suit the next thousand badly), and its integers go as `bigint`, the type of
every key column (psycopg would otherwise send each as the smallest type that holds it).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from django.db import connection
from django.db.backends.utils import CursorWrapper
from psycopg.types.numeric import Int8BinaryDumper, Int8Dumper


class _UnpreparedCursor(psycopg.Cursor):
    def execute(self, query, params=None, *, prepare=None, binary=None):
        return super().execute(query, params, prepare=False, binary=binary)


@contextmanager
def binary_cursor() -> Iterator[CursorWrapper]:
    """A cursor for `%b` parameters and binary results on the default (PostgreSQL) connection."""
    connection.ensure_connection()
    connection.validate_thread_sharing()
    raw = _UnpreparedCursor(connection.connection)
    raw.format = psycopg.pq.Format.BINARY
    raw.adapters.register_dumper(int, Int8Dumper)
    raw.adapters.register_dumper(int, Int8BinaryDumper)
    wrapped = connection.make_debug_cursor(raw) if connection.queries_logged else connection.make_cursor(raw)
    with wrapped:
        yield wrapped
