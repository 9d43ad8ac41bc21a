"""Option types the commands share (a leading underscore: Django does not list it as a command)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime


def instant(value: str) -> datetime:
    """An ISO date-time for `--start`; UTC unless it names an offset."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date-time: {value!r} (e.g. 2026-01-05T09:00Z)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
