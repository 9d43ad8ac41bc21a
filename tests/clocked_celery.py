"""`celery`, with the clock starting at the test's instant (TEST_CLOCK, ISO) and running on from
there, so a real worker process and the frozen test agree on what time it is."""

from __future__ import annotations

import os
import sys
from datetime import datetime

import time_machine
from celery.__main__ import main

if __name__ == "__main__":
    if os.environ.get("TEST_CLOCK"):
        time_machine.travel(datetime.fromisoformat(os.environ["TEST_CLOCK"]), tick=True).start()
    sys.exit(main())
