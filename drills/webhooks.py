"""Webhook requests as the providers send them, and a loopback HTTP client to fire them concurrently.

Each builder returns a `Request` (path, body, headers). Stripe events are signed with the
drill's webhook secret by the stripe library; inbound replies are Postmark-shaped payloads
(subscribers.sending.esp_payloads) behind the drill's basic-auth secret.

Tracking webhooks (delivered / bounced / complained) are in `TRACKING`: one builder per event
kind returning a `Postmark-shaped` `Request` for anymail's tracking view.
"""

from __future__ import annotations

import base64
import json
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate

import requests
import stripe

from drills.harness import ROOT, STRIPE_SECRET, WEBHOOK_AUTH

STRIPE_FIXTURES = ROOT / "tests" / "fixtures" / "stripe"
AUTH_HEADER = {"Authorization": "Basic " + base64.b64encode(WEBHOOK_AUTH.encode()).decode()}


@dataclass(frozen=True)
class Request:
    path: str
    body: bytes
    headers: dict[str, str]
    method: str = "POST"
    label: str = ""


# --- Stripe ---------------------------------------------------------------------------------------


def stripe_event(kind: str, event_id: str, **changes) -> dict:
    event = json.loads((STRIPE_FIXTURES / f"{kind}.json").read_text())
    event["id"] = event_id
    event["data"]["object"].update(changes)
    return event


def paid_event(reference: str, n: int, event_id: str | None = None) -> dict:
    return stripe_event(
        "checkout.session.completed", event_id or f"evt_drill_paid_{n}", id=f"cs_drill_{n}",
        payment_intent=f"pi_drill_{n}", client_reference_id=reference,
    )  # fmt: skip


def refund_event(n: int) -> dict:
    return stripe_event("charge.refunded", f"evt_drill_refund_{n}", id=f"ch_drill_{n}", payment_intent=f"pi_drill_{n}")


def signed(event: dict | str | bytes, *, secret: str = STRIPE_SECRET, timestamp: int | None = None,
           content_type: str = "application/json", label: str = "") -> Request:  # fmt: skip
    """Signed now (as each delivery attempt is), unless `timestamp` says when."""
    body = event if isinstance(event, bytes) else (event if isinstance(event, str) else json.dumps(event)).encode()
    header = stripe.WebhookSignature.generate_signature_header(body.decode("utf-8", "replace"), secret, timestamp)
    headers = {"Content-Type": content_type, "Stripe-Signature": header}
    return Request("/stripe/webhook/", body, headers, label=label)


# --- Inbound replies --------------------------------------------------------------------------------


def reply_mime(sender: str, to: str, text: str, message_id: str | None = None, subject: str = "Re: Check-in") -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate()
    message["Message-ID"] = message_id or f"<{uuid.uuid4().hex}@mail.drill.example>"
    message.set_content(f"{text}\n\nOn Monday, Pivot Path wrote:\n> Where are you now?\n")
    return message.as_bytes()


def inbound(raw: bytes, *, auth: dict[str, str] | None = None, label: str = "") -> Request:
    from subscribers.sending import esp_payloads

    payload = esp_payloads.postmark(raw)
    headers = {"Content-Type": payload.content_type, **(AUTH_HEADER if auth is None else auth)}
    return Request(payload.path, payload.body, headers, label=label)


# --- Tracking (delivered / bounced / complained) -----------------------------------------------------

TRACKING_FIXTURES = ROOT / "tests" / "fixtures" / "tracking"


def postmark_tracking(fixture: str) -> Callable[[str, str], Request]:
    """A builder of Postmark-shaped tracking events from tests/fixtures/tracking/, each call a new event id."""

    def build(message_id: str, recipient: str) -> Request:
        delivery = message_id.removeprefix("<delivery-").split(".", 1)[0]
        body = (
            (TRACKING_FIXTURES / f"{fixture}.json").read_text()
            .replace("$EVENT_ID", str(uuid.uuid4().int % 10**9)).replace("$MESSAGE_ID", message_id)
            .replace("$DELIVERY", delivery).replace("$RECIPIENT", recipient)
        )  # fmt: skip
        headers = {"Content-Type": "application/json", **AUTH_HEADER}
        return Request("/anymail/postmark/tracking/", body.encode(), headers, label=fixture)

    return build


# kind → builder(delivery message id, recipient) -> Request for anymail's tracking view.
TRACKING: dict[str, Callable[[str, str], Request]] = {
    "delivered": postmark_tracking("postmark_delivery"),
    "hard bounce": postmark_tracking("postmark_hard_bounce"),
    "spam complaint": postmark_tracking("postmark_spam_complaint"),
}


# --- Firing -------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    request: Request
    status: int
    seconds: float
    text: str = ""


@dataclass
class Fired:
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, predicate: Callable[[Outcome], bool]) -> int:
        return sum(1 for outcome in self.outcomes if predicate(outcome))

    @property
    def server_errors(self) -> int:
        return self.count(lambda o: o.status == 500)

    def percentile(self, q: float) -> float:
        times = sorted(o.seconds for o in self.outcomes)
        return times[min(len(times) - 1, int(q * len(times)))] * 1000 if times else 0.0

    @property
    def median_ms(self) -> float:
        return statistics.median(o.seconds for o in self.outcomes) * 1000 if self.outcomes else 0.0


def fire(base_url: str, requests_: Iterable[Request], *, concurrency: int, timeout: float = 30) -> Fired:
    """Send every request over loopback with `concurrency` threads (one keep-alive session each)."""
    local = threading.local()

    def one(request: Request) -> Outcome:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        started = time.perf_counter()
        try:
            response = session.request(request.method, base_url + request.path, data=request.body,
                                       headers=request.headers, timeout=timeout, allow_redirects=False)  # fmt: skip
            status, text = response.status_code, response.text[:300]
        except requests.RequestException as exc:
            status, text = 0, f"{type(exc).__name__}: {exc}"[:300]
        return Outcome(request, status, time.perf_counter() - started, text)

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        outcomes = list(pool.map(one, requests_))
    return Fired(outcomes, time.perf_counter() - started)
