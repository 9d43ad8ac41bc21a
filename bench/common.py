"""Shared set-up for benchmarks: Django on a throwaway PostgreSQL database."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def django_on_postgres(name: str, keep: bool = False) -> Iterator[None]:
    """Create `test_<name>` on the PostgreSQL of BENCH_DATABASE_URL (default: the local server),
    migrate it, run the benchmark, and drop it again (unless `keep`)."""
    sys.path.insert(0, str(ROOT))
    os.environ["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/{name}")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DEBUG", "true")
    os.environ.setdefault("ENV_FILE", "")
    import django

    django.setup()
    from django.db import connection

    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        yield
    finally:
        connection.close()
        if keep:
            print(f"kept the database {connection.settings_dict['NAME']}")
        else:
            connection.creation.destroy_test_db(connection.settings_dict["NAME"], verbosity=0)
