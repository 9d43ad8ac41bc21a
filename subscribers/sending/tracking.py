"""What the ESP says happened to our email (flow 7): delivered, bounced, complained, unsubscribed.

anymail's tracking view for the ESP verifies the webhook and sends its `tracking` signal once
per event; `record()` keeps the event once ((esp, event id) is unique: a redelivered webhook
changes nothing) and, in the same transaction, updates the Delivery it is about and the reader:

- delivered → the delivery's outcome;
- a hard bounce, a rejection (the ESP will not send to the address) or a spam complaint →
  the reader is `suppressed` (subscribers.readers.changes.suppress): nothing more is sent to them;
- a soft bounce (the ESP retried for hours, then gave up: mailbox full, server down) → noted;
  SOFT_BOUNCE_LIMIT soft-bounced emails in a row, with no delivery between them, suppress;
- the ESP's own unsubscribe (its link or list management) → the reader is unsubscribed.

`deferred` (the ESP is still retrying), opens and clicks change nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from datetime import datetime

from anymail.signals import AnymailTrackingEvent, EventType
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from subscribers.models import Delivery, Subscriber, TrackingEvent
from subscribers.readers import changes

logger = logging.getLogger(__name__)

TRACKING_PATHS = {
    "postmark": "/anymail/postmark/tracking/",
    "mailgun": "/anymail/mailgun/tracking/",
    "amazon_ses": "/anymail/amazon_ses/tracking/",
}
Effect = TrackingEvent.Effect
OUTCOMES = {
    Effect.DELIVERED: Delivery.Outcome.DELIVERED,
    Effect.SOFT_BOUNCE: Delivery.Outcome.SOFT_BOUNCED,
    Effect.HARD_BOUNCE: Delivery.Outcome.BOUNCED,
    Effect.COMPLAINT: Delivery.Outcome.COMPLAINED,
    Effect.UNSUBSCRIBE: Delivery.Outcome.UNSUBSCRIBED,
}


def on_tracking(sender, event: AnymailTrackingEvent, esp_name: str, **kwargs) -> None:
    """The anymail `tracking` receiver (connected in apps.py)."""
    record(event, esp=esp_name.lower().replace(" ", "_"))


def effect_of(event: AnymailTrackingEvent, esp: str) -> str:
    """What an event means for the reader, from anymail's normalised type and the ESP's detail."""
    raw = event.esp_event if isinstance(event.esp_event, dict) else {}
    if event.event_type == EventType.DELIVERED:
        return Effect.DELIVERED
    if event.event_type == EventType.COMPLAINED:
        return Effect.COMPLAINT
    if event.event_type == EventType.UNSUBSCRIBED:
        return Effect.UNSUBSCRIBE
    if event.event_type == EventType.REJECTED:
        return Effect.HARD_BOUNCE
    if event.event_type == EventType.BOUNCED:
        soft = (
            (esp == "postmark" and raw.get("Type") in ("SoftBounce", "Transient", "DnsError"))
            or (esp == "amazon_ses" and not (event.description or "").startswith("Permanent"))
            # Mailgun's "old": still failing temporarily when its retries ran out.
            or (esp == "mailgun" and raw.get("event-data", {}).get("reason") == "old")
        )
        return Effect.SOFT_BOUNCE if soft else Effect.HARD_BOUNCE
    return Effect.NONE


def event_key(event: AnymailTrackingEvent) -> str:
    """The ESP's event id, per recipient (one SES notification can name several); Postmark has
    none for deliveries, so a digest of the event itself (a resent webhook has the same body)."""
    if event.event_id:
        return f"{event.event_id}/{event.recipient or ''}"[:255]
    body = json.dumps(event.esp_event, sort_keys=True, default=str) if event.esp_event is not None else ""
    basis = f"{event.event_type}|{event.message_id}|{event.recipient}|{body}"
    return "sha256:" + hashlib.sha256(basis.encode("utf-8", "replace")).hexdigest()


def find_delivery(event: AnymailTrackingEvent) -> Delivery | None:
    """By the delivery id we sent as metadata; else by the ESP's message id (and the recipient,
    since one batch call can give every recipient the same id)."""
    metadata = event.metadata if isinstance(event.metadata, dict) else {}
    try:
        delivery_id = int(metadata.get("delivery", ""))
    except (TypeError, ValueError):
        delivery_id = None
    deliveries = Delivery.objects.select_related("subscriber")
    if delivery_id:
        found = deliveries.filter(pk=delivery_id).first()
        if found and (not event.recipient or found.subscriber.email == event.recipient.lower()):
            return found
    if event.message_id:
        matches = deliveries.filter(provider_message_id=str(event.message_id)[:255])
        if event.recipient:
            matches = matches.filter(subscriber__email=event.recipient.lower())
        return matches.order_by("-pk").first()
    return None


def record(event: AnymailTrackingEvent, *, esp: str, now: datetime | None = None) -> TrackingEvent | None:
    """Keep one tracking event and apply it (module docstring); None for one already kept."""
    now = now or timezone.now()
    effect = effect_of(event, esp)
    delivery = find_delivery(event)
    recipient = (event.recipient or (delivery.subscriber.email if delivery else "")).lower()[:320]
    try:
        with transaction.atomic():
            kept = TrackingEvent.objects.create(
                esp=esp[:40],
                event_id=event_key(event),
                event_type=str(event.event_type or "")[:30],
                effect=effect,
                recipient=recipient,
                provider_message_id=str(event.message_id or "")[:255],
                description=str(event.description or event.mta_response or "")[:500],
                delivery=delivery,
                subscriber=delivery.subscriber if delivery else None,
                payload=_jsonable(event.esp_event),
                occurred_at=event.timestamp,
                received_at=now,
            )
            _apply(kept, delivery, now)
    except IntegrityError:
        logger.info("tracking: duplicate %s event %s dropped", esp, event_key(event))
        return None
    logger.info("tracking: %s %s for %s (delivery %s)", esp, event.event_type, recipient, kept.delivery_id)
    return kept


def _apply(kept: TrackingEvent, delivery: Delivery | None, now: datetime) -> None:
    if kept.effect == Effect.NONE:
        return
    if delivery is not None:
        outcome = OUTCOMES[kept.effect]
        rows = Delivery.objects.filter(pk=delivery.pk)
        if kept.effect == Effect.DELIVERED:  # never hides a bounce or complaint that came first
            rows = rows.filter(outcome__in=[Delivery.Outcome.NONE, Delivery.Outcome.SOFT_BOUNCED])
        rows.update(outcome=outcome, outcome_at=kept.occurred_at or now)
    readers = _readers(kept, delivery)
    actor = f"esp:{kept.esp}"
    why = f"{kept.esp} {kept.event_type}: {kept.description}".strip(": ")
    for reader in readers:
        if kept.effect in (Effect.HARD_BOUNCE, Effect.COMPLAINT):
            changes.suppress(reader, actor=actor, why=why, now=now)
        elif kept.effect == Effect.UNSUBSCRIBE:
            with contextlib.suppress(changes.ChangeRefused):  # suppressed, refunded or completed already
                changes.stop(reader, actor=actor, why=why, now=now)
        elif kept.effect == Effect.SOFT_BOUNCE and soft_bounces_in_a_row(reader) >= settings.SOFT_BOUNCE_LIMIT:
            changes.suppress(
                reader, actor=actor, why=f"{settings.SOFT_BOUNCE_LIMIT} soft bounces in a row; last: {why}", now=now
            )


def _readers(kept: TrackingEvent, delivery: Delivery | None) -> list[Subscriber]:
    """The reader the event is about; for an address-wide verdict (hard bounce, complaint) with
    no delivery found (a reply confirmation, say), every enrolment of that address."""
    if delivery is not None:
        return [delivery.subscriber]
    if not kept.recipient:
        return []
    return list(Subscriber.objects.filter(email=kept.recipient))


def soft_bounces_in_a_row(subscriber: Subscriber) -> int:
    """Distinct emails soft-bounced for the reader since their last delivered one."""
    events = TrackingEvent.objects.filter(subscriber=subscriber)
    last_delivered = events.filter(effect=Effect.DELIVERED).order_by("-received_at").values("received_at").first()
    soft = events.filter(effect=Effect.SOFT_BOUNCE)
    if last_delivered:
        soft = soft.filter(received_at__gt=last_delivered["received_at"])
    return soft.filter(~Q(delivery=None)).values("delivery").distinct().count() + soft.filter(delivery=None).count()


def _jsonable(value) -> dict:
    if isinstance(value, dict):
        return json.loads(json.dumps(value, default=str))
    return {"raw": str(value)[:10_000]} if value is not None else {}
