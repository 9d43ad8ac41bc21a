"""Sign-up and payment (flow 1): intake → Stripe Checkout, or the local signed checkout on
a machine without Stripe keys → the Stripe webhook → enrolment, exactly once per payment.

The webhook contract: verify the signature (400 if bad), store the event under its unique
id (a second delivery is a 200 no-op), act in the same transaction, 200 for what we don't
handle. Stripe's HTTP API is only called outside transactions (start a checkout, refund).
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import salted_hmac

from course.models import Course
from course.vocabulary import Destination, Stage, Vocabulary
from subscribers.models import Payment, Signup, StripeEvent, Subscriber
from subscribers.readers import audit, changes
from subscribers.readers.enrolment import AlreadyEnrolled, EnrolmentError, Intake, enroll
from subscribers.sending import emails

logger = logging.getLogger(__name__)

# Stripe's own default: a signed event older than this is refused as a possible replay.
SIGNATURE_TOLERANCE_SECONDS = 300
LOCAL_PREFIX = "local_"


class CheckoutUnavailable(Exception):
    """Checkout cannot start; the message is for the reader, who keeps their answers."""


class Malformed(ValueError):
    """A verified event without the fields its type must have."""


class RefundError(Exception):
    pass


def starting_point(
    leaving: str, destination: str, license: str, pay_need: str, words: Vocabulary | None = None
) -> tuple[str, str]:
    """Where a new reader starts, as (stage, destination), from the four framework questions.

    Destination: a reader leaving their setting rather than direct care gets `change-setting`,
    whatever destination they also picked; everyone else gets the destination they chose, or
    `undecided`.
    Stage: `conversations` when all four questions are settled (leaving care or the setting, a
    destination, the license kept or let go, a known household pay need); `deciding` while
    any one is still open, because the deciding lessons are the ones that work through them.
    """
    if leaving == Signup.Leaving.SETTING and (words is None or words.has_destination(Destination.CHANGE_SETTING)):
        destination = Destination.CHANGE_SETTING
    settled = (
        leaving != Signup.Leaving.UNSURE
        and destination != Destination.UNDECIDED
        and license != Signup.License.UNSURE
        and pay_need != Signup.PayNeed.UNSURE
    )
    return (Stage.CONVERSATIONS if settled else Stage.DECIDING), destination


def signup_course() -> Course | None:
    return Course.objects.filter(slug=settings.SIGNUP_COURSE).first()


def mode() -> str:
    """`stripe` with keys set, `local` for the local signed checkout, `` when payments are off."""
    if settings.STRIPE_SECRET_KEY:
        return "stripe"
    return "local" if settings.LOCAL_CHECKOUT else ""


def stripe_client() -> stripe.StripeClient:
    return stripe.StripeClient(settings.STRIPE_SECRET_KEY, max_network_retries=2)


def start_checkout(signup: Signup) -> str:
    """Open a checkout for a saved signup and return the address to send the reader to."""
    if mode() == "local":
        return reverse("local-checkout", args=[signup.reference])
    if mode() != "stripe":
        raise CheckoutUnavailable("Payments are not set up on this site yet. Nothing was charged.")
    reference = str(signup.reference)
    try:
        session = stripe_client().v1.checkout.sessions.create(
            params={
                "mode": "payment",
                "line_items": [{"price": settings.STRIPE_PRICE_ID, "quantity": 1}],
                "customer_email": signup.email,
                "client_reference_id": reference,
                "metadata": {"signup": reference, "course": signup.course.slug},
                "payment_intent_data": {"metadata": {"signup": reference, "course": signup.course.slug}},
                "success_url": f"{settings.SITE_URL}{reverse('welcome')}?session_id={{CHECKOUT_SESSION_ID}}",
                "cancel_url": f"{settings.SITE_URL}{reverse('start')}?cancelled=1",
            }
        )
    except stripe.StripeError as exc:
        logger.error("stripe checkout session for signup %s failed: %s", reference, exc)
        raise CheckoutUnavailable(
            "We could not reach our payment provider. Nothing was charged and your answers are saved: "
            "please try again in a minute."
        ) from exc
    Signup.objects.filter(pk=signup.pk).update(checkout_session_id=session.id)
    return session.url


# How often an address already enrolled is emailed its link when someone signs up with it again.
ENROLLED_NOTICE_EVERY = timedelta(days=1)


def tell_if_enrolled(signup: Signup, *, new: bool) -> bool:
    """True when the signup's address is already a reader of its course: that address is emailed
    its preferences link after the signup commits, for a `new` address only (the same form sent
    again is not) and at most once per ENROLLED_NOTICE_EVERY. The page goes on as for anyone, so
    nobody learns from it whose address is enrolled."""
    subscriber = Subscriber.objects.filter(course=signup.course, email=signup.email).first()
    if subscriber is None:
        return False
    since = signup.created_at - ENROLLED_NOTICE_EVERY
    told = Signup.objects.filter(course=signup.course, email=signup.email, created_at__gte=since)
    if new and not told.exclude(pk=signup.pk).exists():
        transaction.on_commit(lambda: emails.already_enrolled(subscriber).send(), robust=True)
    return True


# --- The webhook ---------------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookResult:
    status: int
    message: str


def webhook_secrets() -> list[str]:
    secrets = [settings.STRIPE_WEBHOOK_SECRET] if settings.STRIPE_WEBHOOK_SECRET else []
    if mode() == "local":
        secrets.append(local_webhook_secret())
    return secrets


def receive_event(payload: bytes, signature: str | None) -> WebhookResult:
    """Everything `/stripe/webhook/` does with a request's body and Stripe-Signature header."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return _rejected("the body is not UTF-8")
    problem = _signature_problem(text, signature)
    if problem:
        return _rejected(problem)
    try:
        event = json.loads(text)
        if not isinstance(event, dict):
            raise Malformed("the body is not a JSON object")
        event_id, event_type = _text(event, "id"), _text(event, "type", max_length=100)
        obj = event["data"]["object"]
        if not isinstance(obj, dict):
            raise Malformed("data.object is not an object")
    except RecursionError:  # JSON nested deeper than the parser goes: nothing Stripe sends
        return _rejected("malformed event: nested too deep")
    except (ValueError, KeyError, TypeError) as exc:
        return _rejected(f"malformed event: {exc}")
    # PostgreSQL keeps no NUL in text or jsonb; a signed event is Stripe's, so it is kept without them.
    if "\\u0000" in text:
        try:
            event = _without_nul(event)
        except RecursionError:
            return _rejected("malformed event: nested too deep")
        event_id, event_type, obj = event["id"], event["type"], event["data"]["object"]
    try:
        with transaction.atomic():
            try:
                with transaction.atomic():
                    stored = StripeEvent.objects.create(
                        event_id=event_id, type=event_type, livemode=event.get("livemode") is True, payload=event
                    )
            except IntegrityError:
                return WebhookResult(200, f"{event_id} already received")
            handler = HANDLERS.get(event_type)
            outcome = handler(obj, event_id) if handler else "ignored: not an event this site handles"
            stored.outcome = outcome[:300]
            stored.save(update_fields=["outcome"])
    except Malformed as exc:
        return _rejected(f"malformed {event_type} {event_id}: {exc}")
    logger.info("stripe event %s %s: %s", event_id, event_type, outcome)
    return WebhookResult(200, outcome)


def _rejected(why: str) -> WebhookResult:
    logger.warning("stripe webhook rejected: %s", why)
    return WebhookResult(400, why)


def _without_nul(value: Any) -> Any:
    """`value` (parsed JSON) with NUL characters removed from every string, keys included."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [_without_nul(item) for item in value]
    if isinstance(value, dict):
        return {_without_nul(key): _without_nul(item) for key, item in value.items()}
    return value


def _signed_in_the_future(signature: str) -> bool:
    """stripe's check refuses old timestamps only; one beyond the tolerance ahead is refused too."""
    stamps = [part[2:] for part in signature.split(",") if part.strip().startswith("t=")]
    try:
        stamp = int(stamps[0].strip()) if stamps else 0
    except ValueError:
        return False  # stripe's own check refuses it
    return stamp > timezone.now().timestamp() + SIGNATURE_TOLERANCE_SECONDS


def _signature_problem(text: str, signature: str | None) -> str:
    secrets = webhook_secrets()
    if not secrets:
        return "no webhook secret is configured (STRIPE_WEBHOOK_SECRET)"
    if not signature:
        return "no Stripe-Signature header"
    if _signed_in_the_future(signature):
        return f"bad signature: timestamp more than {SIGNATURE_TOLERANCE_SECONDS} s in the future"
    problem = ""
    for secret in secrets:
        try:
            stripe.WebhookSignature.verify_header(text, signature, secret, SIGNATURE_TOLERANCE_SECONDS)
        except stripe.SignatureVerificationError as exc:
            problem = f"bad signature: {exc.user_message or exc}"
        else:
            return ""
    return problem


def _text(obj: dict[str, Any], key: str, *, required: bool = True, max_length: int = 255) -> str:
    value = obj.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise Malformed(f"{key} is missing or not text")
    if len(value) > max_length:  # Stripe's ids are far shorter; the columns hold 255
        raise Malformed(f"{key} is longer than {max_length} characters")
    return value


def _amount(obj: dict[str, Any], key: str) -> int:
    value = obj.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise Malformed(f"{key} is missing or not a whole number of cents")
    return value


def _locked_payment(payment_intent_id: str) -> tuple[Payment, bool]:
    """The payment row for a payment intent, created by whichever event comes first, and
    locked until the transaction ends so events about one payment are applied one by one."""
    return Payment.objects.select_for_update().get_or_create(payment_intent_id=payment_intent_id)


def _signup_for(session: dict[str, Any]) -> Signup | None:
    reference = _text(session, "client_reference_id", required=False)
    try:
        reference_uuid = uuid.UUID(reference)
    except ValueError:
        return None
    return Signup.objects.select_for_update().select_related("course").filter(reference=reference_uuid).first()


def _session_payment(session: dict[str, Any]) -> tuple[Payment, bool]:
    payment, created = _locked_payment(_text(session, "payment_intent"))
    payment.checkout_session_id = _text(session, "id")
    payment.amount_cents = _amount(session, "amount_total")
    payment.currency = _text(session, "currency", max_length=3).lower()
    payment.livemode = session.get("livemode") is True
    return payment, created


def on_session_completed(session: dict[str, Any], event_id: str) -> str:
    if session.get("mode") != "payment":
        return "ignored: not a one-time payment"
    if session.get("payment_status") == "paid":
        return _paid(session, event_id)
    payment, _ = _session_payment(session)
    if payment.status == Payment.Status.PROCESSING:
        payment.signup = payment.signup or _signup_for(session)
        payment.save()
    return f"payment {payment.payment_intent_id} is {session.get('payment_status')!s}: waiting for it to clear"


def on_async_payment_succeeded(session: dict[str, Any], event_id: str) -> str:
    return _paid(session, event_id)


def on_async_payment_failed(session: dict[str, Any], event_id: str) -> str:
    payment, _ = _session_payment(session)
    if payment.status != Payment.Status.PROCESSING:
        return f"payment {payment.payment_intent_id} is already {payment.status}"
    payment.status = Payment.Status.FAILED
    payment.signup = payment.signup or _signup_for(session)
    payment.save()
    audit.record(
        None,
        audit.What.PAYMENT_FAILED,
        after={"payment_intent": payment.payment_intent_id, "email": payment.signup.email if payment.signup else ""},
        why=f"the delayed payment failed ({event_id}); nobody was enrolled",
        actor="stripe",
    )
    return "payment failed: not enrolled"


def _paid(session: dict[str, Any], event_id: str) -> str:
    """A paid checkout: enrol the signup's reader once, or say why not and flag the payment."""
    payment, _ = _session_payment(session)
    signup = payment.signup or _signup_for(session)
    payment.signup = signup
    if payment.status in (Payment.Status.REFUNDED, Payment.Status.DISPUTED):
        payment.save()
        return _not_enrolled(payment, signup, f"the payment was {payment.status} before it completed", event_id)
    if payment.status == Payment.Status.PAID:
        payment.save()
        return f"payment {payment.payment_intent_id} was already handled"
    payment.status = Payment.Status.PAID
    course = signup.course if signup else None
    if signup is None or course is None:
        payment.needs_refund = True
        payment.save()
        return _not_enrolled(payment, None, "no signup matches the checkout's reference", event_id)
    if (payment.amount_cents, payment.currency) != (course.price_cents, course.currency.lower()):
        payment.needs_refund = True
        payment.save()
        return _not_enrolled(
            payment,
            signup,
            f"paid {payment.amount_cents / 100:.2f} {payment.currency.upper()}, the course costs "
            f"{course.price:.2f} {course.currency.upper()}",
            event_id,
        )
    stage, destination = starting_point(
        signup.leaving, signup.destination, signup.license, signup.pay_need, course.words
    )
    intake = Intake(
        email=signup.email,
        first_name=signup.first_name,
        specialty=signup.specialty,
        stage=stage,
        destination=destination,
        profession=signup.profession,
        # A paid reader is enrolled whatever the answers: one left empty counts as not decided yet.
        license_plan=signup.license or Signup.License.UNSURE,
        pay_need=signup.pay_need or Signup.PayNeed.UNSURE,
        time_zone=signup.time_zone,
        send_hour=signup.send_hour,
    )
    why = f"paid {payment.amount_cents / 100:.2f} {payment.currency.upper()}, checkout {payment.checkout_session_id}"
    try:
        subscriber = enroll(course, intake, actor="stripe", why=why)
    except AlreadyEnrolled as exc:
        payment.subscriber, payment.needs_refund = exc.subscriber, True
        payment.note = f"a second payment: already enrolled ({exc.subscriber.status})"
        payment.save()
        signup.status = Signup.Status.NOT_ENROLLED
        signup.save(update_fields=["status", "updated_at"])
        audit.record(
            exc.subscriber,
            audit.What.PAYMENT_REPEATED,
            after=_payment_facts(payment),
            why=f"{payment.note}; refund it",
            actor="stripe",
        )
        return f"{signup.email} is already enrolled: payment flagged for a refund"
    except EnrolmentError as exc:
        payment.needs_refund = True
        payment.save()
        return _not_enrolled(payment, signup, str(exc), event_id)
    payment.subscriber, payment.enrolled = subscriber, True
    payment.save()
    signup.status, signup.subscriber = Signup.Status.ENROLLED, subscriber
    signup.save(update_fields=["status", "subscriber", "updated_at"])
    audit.record(
        subscriber,
        audit.What.PAYMENT_RECEIVED,
        after={
            **_payment_facts(payment),
            "leaving": signup.leaving,
            "license": signup.license,
            "pay_need": signup.pay_need,
        },
        why=f"checkout completed ({event_id})",
        actor="stripe",
    )
    return f"enrolled {subscriber.email} ({stage}, {destination})"


def _not_enrolled(payment: Payment, signup: Signup | None, why: str, event_id: str) -> str:
    payment.note = why[:300]
    payment.save(update_fields=["note", "updated_at"])
    if signup is not None:
        signup.status = Signup.Status.NOT_ENROLLED
        signup.save(update_fields=["status", "updated_at"])
    audit.record(
        None,
        audit.What.PAYMENT_NOT_ENROLLED,
        after={**_payment_facts(payment), "email": signup.email if signup else ""},
        why=f"{why} ({event_id})",
        actor="stripe",
    )
    logger.warning("payment %s enrolled nobody: %s", payment.payment_intent_id, why)
    return f"not enrolled: {why}"


def _payment_facts(payment: Payment) -> dict[str, Any]:
    return {
        "payment_intent": payment.payment_intent_id,
        "checkout_session": payment.checkout_session_id,
        "amount_cents": payment.amount_cents,
        "currency": payment.currency,
    }


def on_charge_refunded(charge: dict[str, Any], event_id: str) -> str:
    payment_intent = _text(charge, "payment_intent")
    if charge.get("refunded") is not True:
        refunded = _amount(charge, "amount_refunded")
        return f"partial refund of {refunded / 100:.2f} on {payment_intent}: the course goes on"
    return _stop(payment_intent, Payment.Status.REFUNDED, f"refunded at Stripe ({event_id})")


def on_dispute_created(dispute: dict[str, Any], event_id: str) -> str:
    payment_intent = _text(dispute, "payment_intent", required=False)
    if not payment_intent:
        # A dispute on a charge made without a payment intent (not through our checkout): none of
        # our payments to stop. Kept (the event row and an audit row) for someone to look at in Stripe.
        charge = str(dispute.get("charge") or "")[:100]
        why = f"dispute {str(dispute.get('id') or '')[:100]} on charge {charge} names no payment intent ({event_id})"
        audit.record(None, audit.What.PAYMENT_DISPUTED, after={"charge": charge}, why=why[:300], actor="stripe")
        logger.warning("stripe: %s", why)
        return "dispute without a payment intent: no payment of ours to stop; look it up in Stripe"
    return _stop(payment_intent, Payment.Status.DISPUTED, f"payment disputed ({event_id})")


PAYMENT_EVENTS = {
    Payment.Status.REFUNDED: audit.What.PAYMENT_REFUNDED,
    Payment.Status.DISPUTED: audit.What.PAYMENT_DISPUTED,
}


def _stop(payment_intent: str, status: str, why: str, *, actor: str = "stripe") -> str:
    payment, created = _locked_payment(payment_intent)
    before = payment.status
    if before == status:
        return f"payment {payment_intent} was already {status}"
    payment.status = status
    if status == Payment.Status.REFUNDED:
        payment.refunded_at, payment.needs_refund = payment.refunded_at or timezone.now(), False
    if created:
        payment.note = f"{status} before its checkout completed"
    payment.save()
    audit.record(
        payment.subscriber, PAYMENT_EVENTS[status], before=before, after=_payment_facts(payment), why=why, actor=actor
    )
    if payment.enrolled and payment.subscriber:
        stop_course(payment.subscriber, why=why, actor=actor)
        if status == Payment.Status.REFUNDED:
            # After the commit, outside the transaction; a failed send is logged, the refund stands.
            subscriber = payment.subscriber
            transaction.on_commit(lambda: tell_course_stopped(subscriber, "your payment was refunded"), robust=True)
        return f"course stopped for {payment.subscriber.email} ({status})"
    return f"payment {payment_intent} {status}; no course to stop"


def stop_course(subscriber: Subscriber, *, why: str, actor: str) -> None:
    """Refunded or disputed: no more email, ever, for this enrolment."""
    changes.end_paid_course([subscriber.pk], why=why, actor=actor, now=timezone.now())


def tell_course_stopped(subscriber: Subscriber, why: str) -> None:
    """The short email saying the course has stopped and why (emails.course_stopped)."""
    emails.course_stopped(subscriber, why).send()
    logger.info("told %s their course has stopped: %s", subscriber.email, why)


HANDLERS = {
    "checkout.session.completed": on_session_completed,
    "checkout.session.async_payment_succeeded": on_async_payment_succeeded,
    "checkout.session.async_payment_failed": on_async_payment_failed,
    "charge.refunded": on_charge_refunded,
    "charge.dispute.created": on_dispute_created,
}


# --- Refunds (admin) ---------------------------------------------------------------------


def refund(payment: Payment, *, actor: str) -> str:
    """Refund a payment in full through Stripe, then record it and stop the course it paid
    for. Stripe's later `charge.refunded` event finds the payment already refunded."""
    if payment.status == Payment.Status.REFUNDED:
        return f"{payment.payment_intent_id} is already refunded"
    if payment.status not in (Payment.Status.PAID, Payment.Status.DISPUTED):
        raise RefundError(f"{payment.payment_intent_id} is {payment.status}: there is nothing to refund")
    if payment.is_local:
        refund_id = f"re_{LOCAL_PREFIX}{uuid.uuid4().hex[:24]}"
    else:
        try:
            refunded = stripe_client().v1.refunds.create(
                params={"payment_intent": payment.payment_intent_id, "reason": "requested_by_customer"},
                options={"idempotency_key": f"refund-{payment.payment_intent_id}"},
            )
        except stripe.StripeError as exc:
            raise RefundError(
                f"Stripe refused the refund of {payment.payment_intent_id}: {exc.user_message or exc}"
            ) from exc
        refund_id = refunded.id
    with transaction.atomic():
        Payment.objects.filter(pk=payment.pk).update(refund_id=refund_id)
        outcome = _stop(
            payment.payment_intent_id, Payment.Status.REFUNDED, f"refunded by {actor} ({refund_id})", actor=actor
        )
    payment.refresh_from_db()
    return outcome


# --- The local signed checkout ---------------------------------------------------------------


def local_webhook_secret() -> str:
    """The secret the local checkout signs with: private to this machine (from SECRET_KEY)."""
    return "whsec_" + LOCAL_PREFIX + salted_hmac("subscribers.checkout.local-webhook", "v1").hexdigest()


def local_checkout_event(signup: Signup, now: datetime | None = None) -> dict[str, Any]:
    """A `checkout.session.completed` event shaped like Stripe's, for a paid local checkout."""
    now = now or timezone.now()
    course = signup.course
    reference = str(signup.reference)
    session = {
        "id": f"cs_{LOCAL_PREFIX}{uuid.uuid4().hex}",
        "object": "checkout.session",
        "amount_subtotal": course.price_cents,
        "amount_total": course.price_cents,
        "client_reference_id": reference,
        "created": int(now.timestamp()),
        "currency": course.currency.lower(),
        "customer_details": {"email": signup.email, "name": signup.first_name},
        "customer_email": signup.email,
        "livemode": False,
        "metadata": {"signup": reference, "course": course.slug},
        "mode": "payment",
        "payment_intent": f"pi_{LOCAL_PREFIX}{uuid.uuid4().hex[:24]}",
        "payment_status": "paid",
        "status": "complete",
        "success_url": f"{settings.SITE_URL}{reverse('welcome')}",
        "cancel_url": f"{settings.SITE_URL}{reverse('start')}?cancelled=1",
    }
    return {
        "id": f"evt_{LOCAL_PREFIX}{uuid.uuid4().hex}",
        "object": "event",
        "api_version": stripe.api_version,
        "created": int(now.timestamp()),
        "data": {"object": session},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": "checkout.session.completed",
    }


def pay_locally(signup: Signup) -> WebhookResult:
    """Sign a local completed-checkout event and hand it to the webhook's own entry point."""
    payload = json.dumps(local_checkout_event(signup))
    signature = stripe.WebhookSignature.generate_signature_header(payload, local_webhook_secret())
    return receive_event(payload.encode(), signature)
