"""Drill 6, load on a real server: gunicorn serving the app on PostgreSQL (a throwaway database on
the local server) and Redis (its own), 5,000 webhook requests at concurrency 50 over loopback:
2,000 inbound replies (each stored once and queued), 2,000 Stripe paid checkouts (each enrolling
its reader) and 1,000 tracking events (delivered, each stored once), shuffled together.

Expected: 0 errors (every answer a 200), 0 lost (every reply stored, every event stored, every
payer enrolled); p50 and p99 printed. Bounded: 5,000 requests, 30 s per request, 100 s in all.

    .venv/bin/python drills/load.py
"""

from __future__ import annotations

import random
import sys
import uuid
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from drills import harness, webhooks

REQUESTS = 5000
CONCURRENCY = 50
BUDGET_SECONDS = 100


def drill(stack: ExitStack, row: harness.Row) -> None:
    folder = harness.workdir(stack, "load")
    redis = harness.RedisServer(stack, folder)
    env = harness.product_env(harness.throwaway_database(stack, "load"), redis.url, folder)
    harness.setup_django(env)
    from course.models import Course
    from subscribers.models import Reply, Signup, StripeEvent, Subscriber, TrackingEvent

    course = Course.objects.get(slug="clinical-to-non-clinical")
    payers, tracked = REQUESTS * 2 // 5, REQUESTS // 5
    signups = Signup.objects.bulk_create(
        Signup(
            course=course,
            email=f"load{n}@drill.example",
            first_name=f"L{n}",
            time_zone="America/Chicago",
            send_hour=7,
            destination="medical-affairs",
            reference=uuid.uuid4(),
        )
        for n in range(payers)
    )
    batch = [webhooks.signed(webhooks.paid_event(str(s.reference), n)) for n, s in enumerate(signups)]
    message_ids = [f"<load-{n}-{uuid.uuid4().hex}@mail.drill.example>" for n in range(REQUESTS - payers - tracked)]
    batch += [
        webhooks.inbound(
            webhooks.reply_mime(
                f"reader{n}@drill.example", "checkin+abc@reply.pivotpath.localhost", f"Stage {n % 5 + 1}", message_id
            )
        )
        for n, message_id in enumerate(message_ids)
    ]
    delivered = webhooks.TRACKING["delivered"]
    batch += [delivered(f"<delivery-{900_000 + n}.load@drill.example>", f"t{n}@drill.example") for n in range(tracked)]
    random.Random(6).shuffle(batch)
    # Signatures are made now and verified within Stripe's 300 s tolerance: well inside the budget.

    _web, base = harness.gunicorn(stack, env, folder)
    harness.log(f"firing {len(batch)} requests at concurrency {CONCURRENCY}")
    fired = webhooks.fire(base, batch, concurrency=CONCURRENCY, timeout=30)
    not_ok = [o for o in fired.outcomes if o.status != 200]
    stored_replies = Reply.objects.filter(message_id__in=message_ids).count()
    stored_events = StripeEvent.objects.count()
    stored_tracking = TrackingEvent.objects.count()
    enrolled = Subscriber.objects.filter(email__endswith="@drill.example").count()
    lost = (len(message_ids) - stored_replies) + (payers - enrolled) + (tracked - stored_tracking)
    row.done = (f"{len(batch)} webhooks, c={CONCURRENCY}, gunicorn, {fired.seconds:.0f}s: "
                f"p50 {fired.percentile(0.5):.0f}ms p99 {fired.percentile(0.99):.0f}ms")  # fmt: skip
    row.expected = "0 errors, 0 lost"
    row.lost, row.duplicates, row.errors_500 = lost, max(0, enrolled - payers), fired.server_errors
    row.notes += [
        f"{len(batch) / fired.seconds:.0f} requests/s; {len(not_ok)} errors; {stored_replies}/{len(message_ids)} "
        f"replies stored, {stored_events} Stripe events stored, {enrolled}/{payers} payers enrolled, "
        f"{stored_tracking}/{tracked} tracking events stored",
        f"p50 {fired.percentile(0.5):.1f} ms, p90 {fired.percentile(0.9):.1f} ms, p99 {fired.percentile(0.99):.1f} ms,"
        f" max {fired.percentile(1.0):.1f} ms",
    ]
    if not_ok:
        row.notes.append(f"first error: {not_ok[0].status} {not_ok[0].text[:200]}")
    row.passed = not not_ok and lost == 0 and stored_events == payers and fired.seconds < BUDGET_SECONDS


if __name__ == "__main__":
    harness.run("load", drill)
