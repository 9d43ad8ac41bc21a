"""The Stripe webhook and the payment rules: verify, dedupe, enrol exactly once, stop on refunds."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import stripe
from django.db import connection
from django.test import Client

from subscribers.models import Delivery, Event, Payment, Signup, StripeEvent, Subscriber
from subscribers.sending import drip
from subscribers.signup import checkout
from tests.conftest import FIXTURES, enrol, outbox_to

WEBHOOK_SECRET = "whsec_test_0123456789abcdef"
PAYMENT_INTENT = "pi_3QfA2bCZ6qsJgndJ0a1b2c3d"


@pytest.fixture(autouse=True)
def stripe_keys(settings):
    settings.STRIPE_SECRET_KEY = "sk_test_pivotpath"
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_PRICE_ID = "price_test_79"
    settings.LOCAL_CHECKOUT = False
    settings.SIGNUP_COURSE = "test-course"


def stripe_event(name: str, **changes) -> dict:
    """A fixture event from tests/fixtures/stripe/, with fields of its data.object changed."""
    event = json.loads((FIXTURES / "stripe" / f"{name}.json").read_text())
    event["data"]["object"].update(changes)
    return event


def paid_event(signup: Signup, **changes) -> dict:
    return stripe_event("checkout.session.completed", client_reference_id=str(signup.reference), **changes)


def post_event(client: Client, event: dict | str, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None):
    payload = event if isinstance(event, str) else json.dumps(event)
    signature = stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp)
    return client.post(
        "/stripe/webhook/", payload, content_type="application/json", headers={"Stripe-Signature": signature}
    )


def sign_up(course, email: str = "carol@example.com", **answers) -> Signup:
    """Carol, an ICU nurse in Chicago leaving direct care for the payer side, all four questions answered."""
    fields = {
        "first_name": "Carol",
        "profession": "rn",
        "specialty": "ICU nurse",
        "leaving": Signup.Leaving.CARE,
        "destination": "payer",
        "license": Signup.License.KEEP,
        "pay_need": Signup.PayNeed.MODEST_DROP,
        "time_zone": "America/Chicago",
        "send_hour": 7,
        **answers,
    }
    return Signup.objects.create(course=course, email=email, **fields)


def send_due_email() -> list[str]:
    report = drip.tick(queue=False)
    return [drip.send_delivery(delivery_id) for delivery_id in report.delivery_ids]


# --- The starting point rule ------------------------------------------------------------------


@pytest.mark.parametrize(
    "leaving, destination, license, pay_need, expected",
    [
        ("care", "payer", "keep", "match", ("conversations", "payer")),
        ("care", "medical-affairs", "let-go", "flexible", ("conversations", "medical-affairs")),
        ("care", "undecided", "keep", "match", ("deciding", "undecided")),
        ("care", "payer", "unsure", "match", ("deciding", "payer")),
        ("care", "payer", "keep", "unsure", ("deciding", "payer")),
        ("unsure", "consulting", "keep", "match", ("deciding", "consulting")),
        ("setting", "payer", "keep", "match", ("conversations", "change-setting")),
        ("setting", "undecided", "keep", "modest-drop", ("conversations", "change-setting")),
        ("setting", "undecided", "unsure", "match", ("deciding", "change-setting")),
    ],
)
def test_the_four_answers_set_the_starting_stage_and_destination(leaving, destination, license, pay_need, expected):
    assert checkout.starting_point(leaving, destination, license, pay_need) == expected


# --- Enrolment ----------------------------------------------------------------------------------


def test_a_paid_checkout_enrols_the_reader_and_the_welcome_goes_out(client, course):
    signup = sign_up(course)

    response = post_event(client, paid_event(signup))

    assert response.status_code == 200
    assert response.text == "enrolled carol@example.com (conversations, payer)"
    carol = Subscriber.objects.get()
    assert (carol.email, carol.first_name, carol.specialty) == ("carol@example.com", "Carol", "ICU nurse")
    assert (carol.stage, carol.destination, carol.time_zone, carol.send_hour) == (
        "conversations",
        "payer",
        "America/Chicago",
        7,
    )
    payment = Payment.objects.get()
    assert (payment.status, payment.enrolled, payment.needs_refund) == ("paid", True, False)
    assert (payment.subscriber, payment.signup, payment.amount_cents, payment.currency) == (carol, signup, 7900, "usd")
    signup.refresh_from_db()
    assert (signup.status, signup.subscriber) == ("enrolled", carol)
    assert list(carol.events.order_by("id").values_list("what", "actor")) == [
        ("enrolled", "stripe"),
        ("payment_received", "stripe"),
    ]
    assert send_due_email() == ["sent"]
    assert [m.subject for m in outbox_to("carol@example.com")] == ["Welcome, Carol"]


def test_the_same_event_delivered_again_changes_nothing(client, course):
    event = paid_event(sign_up(course))
    assert post_event(client, event).status_code == 200

    replay = post_event(client, event)

    assert replay.status_code == 200
    assert replay.text == "evt_1QfA2bCZ6qsJgndJ8xYz0001 already received"
    assert (Subscriber.objects.count(), Payment.objects.count(), StripeEvent.objects.count()) == (1, 1, 1)


def test_a_second_event_for_the_same_payment_does_not_enrol_twice(client, course):
    signup = sign_up(course)
    post_event(client, paid_event(signup))
    succeeded = paid_event(signup)
    succeeded.update(id="evt_1QfA2bCZ6qsJgndJ8xYz0002", type="checkout.session.async_payment_succeeded")

    response = post_event(client, succeeded)

    assert response.status_code == 200
    assert response.text == f"payment {PAYMENT_INTENT} was already handled"
    assert Subscriber.objects.count() == 1
    assert Event.objects.filter(what="enrolled").count() == 1


def test_ten_concurrent_deliveries_of_one_event_give_one_reader_one_enrolment_one_welcome(transactional_db, course):
    event = json.dumps(paid_event(sign_up(course)))
    barrier = threading.Barrier(10)

    def deliver(_):
        barrier.wait()
        try:
            return post_event(Client(), event).status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(10) as pool:
        statuses = list(pool.map(deliver, range(10)))

    assert statuses == [200] * 10
    assert Subscriber.objects.count() == 1
    assert Payment.objects.count() == 1
    assert StripeEvent.objects.count() == 1
    assert Event.objects.filter(what="enrolled").count() == 1
    assert send_due_email() == ["sent"]
    assert send_due_email() == []
    assert [m.subject for m in outbox_to("carol@example.com")] == ["Welcome, Carol"]
    assert Delivery.objects.count() == 1


def test_a_payment_still_clearing_enrols_when_it_succeeds(client, course):
    signup = sign_up(course)
    waiting = post_event(client, paid_event(signup, payment_status="unpaid"))
    assert waiting.status_code == 200
    assert Subscriber.objects.count() == 0
    assert Payment.objects.get().status == "processing"

    succeeded = paid_event(signup)
    succeeded.update(id="evt_async_ok", type="checkout.session.async_payment_succeeded")
    assert post_event(client, succeeded).status_code == 200

    assert Subscriber.objects.get().email == "carol@example.com"
    assert Payment.objects.get().status == "paid"


def test_a_payment_that_fails_to_clear_enrols_nobody(client, course):
    signup = sign_up(course)
    post_event(client, paid_event(signup, payment_status="unpaid"))
    failed = paid_event(signup, payment_status="unpaid")
    failed.update(id="evt_async_failed", type="checkout.session.async_payment_failed")

    response = post_event(client, failed)

    assert response.status_code == 200
    assert Subscriber.objects.count() == 0
    assert Payment.objects.get().status == "failed"
    assert Event.objects.filter(what="payment_failed", subscriber=None).count() == 1
    signup.refresh_from_db()
    assert signup.status == "open", "the reader can try again with the same answers"


@pytest.mark.parametrize(
    "changes, why",
    [
        ({"amount_total": 100}, "paid 1.00 USD, the course costs 79.00 USD"),
        ({"currency": "eur"}, "paid 79.00 EUR, the course costs 79.00 USD"),
    ],
)
def test_a_payment_of_the_wrong_amount_enrols_nobody_and_is_flagged(client, course, changes, why):
    signup = sign_up(course)

    response = post_event(client, paid_event(signup, **changes))

    assert response.status_code == 200
    assert response.text == f"not enrolled: {why}"
    assert Subscriber.objects.count() == 0
    payment = Payment.objects.get()
    assert (payment.status, payment.needs_refund, payment.note) == ("paid", True, why)
    signup.refresh_from_db()
    assert signup.status == "not-enrolled"
    assert Event.objects.get(what="payment_not_enrolled").after["email"] == "carol@example.com"


def test_a_payment_without_a_known_signup_is_flagged(client, course):
    response = post_event(client, stripe_event("checkout.session.completed", client_reference_id=None))

    assert response.status_code == 200
    assert Subscriber.objects.count() == 0
    assert Payment.objects.get().needs_refund is True


def test_someone_already_enrolled_who_pays_again_gets_no_second_course(client, course):
    carol = enrol(course, "carol@example.com", first_name="Carol")

    response = post_event(client, paid_event(sign_up(course)))

    assert response.status_code == 200
    assert response.text == "carol@example.com is already enrolled: payment flagged for a refund"
    assert Subscriber.objects.count() == 1
    payment = Payment.objects.get()
    assert (payment.subscriber, payment.enrolled, payment.needs_refund) == (carol, False, True)
    assert carol.events.filter(what="payment_repeated").count() == 1

    # Refunding the second payment leaves the course running.
    refunded = post_event(client, stripe_event("charge.refunded"))
    assert refunded.status_code == 200
    carol.refresh_from_db()
    assert carol.status == "active"
    payment.refresh_from_db()
    assert (payment.status, payment.needs_refund) == ("refunded", False)


def test_unknown_event_types_are_acknowledged_and_ignored(client, course):
    event = stripe_event("checkout.session.completed")
    event.update(id="evt_customer", type="customer.created", data={"object": {"id": "cus_1", "object": "customer"}})

    response = post_event(client, event)

    assert response.status_code == 200
    assert StripeEvent.objects.get().outcome == "ignored: not an event this site handles"
    assert Payment.objects.count() == 0


# --- Refunds and disputes -----------------------------------------------------------------------


def test_a_refund_stops_the_course_and_no_more_email_goes_out(client, course):
    post_event(client, paid_event(sign_up(course)))
    drip.tick(queue=False)  # the welcome is planned but not yet sent

    response = post_event(client, stripe_event("charge.refunded"))

    assert response.status_code == 200
    assert response.text == "course stopped for carol@example.com (refunded)"
    carol = Subscriber.objects.get()
    assert (carol.status, carol.next_send_at) == ("refunded", None)
    assert carol.events.filter(what="status_changed", before="active", after="refunded").count() == 1
    assert Payment.objects.get().status == "refunded"
    assert [drip.send_delivery(d.pk) for d in Delivery.objects.all()] == ["cancelled: reader is refunded"]
    assert outbox_to("carol@example.com") == []


def test_a_dispute_stops_the_course(client, course):
    post_event(client, paid_event(sign_up(course)))

    response = post_event(client, stripe_event("charge.dispute.created"))

    assert response.status_code == 200
    assert Subscriber.objects.get().status == "refunded"
    assert Payment.objects.get().status == "disputed"


def test_a_partial_refund_leaves_the_course_running(client, course):
    post_event(client, paid_event(sign_up(course)))

    response = post_event(client, stripe_event("charge.refunded", refunded=False, amount_refunded=2000))

    assert response.status_code == 200
    assert Subscriber.objects.get().status == "active"


def test_a_refund_that_arrives_before_the_completed_checkout_means_no_course(client, course):
    signup = sign_up(course)
    early = post_event(client, stripe_event("charge.refunded"))
    assert early.status_code == 200

    late = post_event(client, paid_event(signup))

    assert late.status_code == 200
    assert late.text == "not enrolled: the payment was refunded before it completed"
    assert Subscriber.objects.count() == 0
    payment = Payment.objects.get()
    assert (payment.status, payment.checkout_session_id, payment.signup) == (
        "refunded",
        "cs_test_a1B2c3D4e5F6g7H8i9J0kLmNoPqRsTuVwXyZ",
        signup,
    )


# --- Bad input ----------------------------------------------------------------------------------


def _signed(payload: str, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> dict:
    return {"Stripe-Signature": stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp)}


GOOD = json.dumps(stripe_event("checkout.session.completed"))
NO_DATA = '{"id": "evt_1", "type": "charge.refunded"}'
BAD_ID = '{"id": 5, "type": "x", "data": {"object": {}}}'


# Each case signs when the test runs (the clock is frozen per test), never at collection.
@pytest.mark.parametrize(
    "body, headers, reason",
    [
        (GOOD, lambda: {}, "no Stripe-Signature header"),
        (GOOD, lambda: _signed(GOOD, secret="whsec_someone_else"), "bad signature: No signatures found matching"),
        (GOOD, lambda: {"Stripe-Signature": "garbage"}, "bad signature: Unable to extract timestamp"),
        (GOOD.replace("7900", "1"), lambda: _signed(GOOD), "bad signature: No signatures found matching"),
        (GOOD, lambda: _signed(GOOD, timestamp=int(time.time()) - 301),
         "bad signature: Timestamp outside the tolerance zone"),
        ("{not json", lambda: _signed("{not json"), "malformed event"),
        ("[1, 2]", lambda: _signed("[1, 2]"), "malformed event: the body is not a JSON object"),
        (NO_DATA, lambda: _signed(NO_DATA), "malformed event: 'data'"),
        (BAD_ID, lambda: _signed(BAD_ID), "malformed event: id is missing or not text"),
    ],
    ids=["unsigned", "other-secret", "garbled", "tampered", "stale", "not-json", "not-object", "no-data", "bad-id"],
)  # fmt: skip
def test_unsigned_badly_signed_stale_or_malformed_requests_get_a_400_and_a_log_line(
    client, course, caplog, body, headers, reason
):
    response = client.post("/stripe/webhook/", body, content_type="application/json", headers=headers())

    assert response.status_code == 400
    assert response.text.startswith(reason)
    assert f"stripe webhook rejected: {reason}" in caplog.text
    assert StripeEvent.objects.count() == 0


@pytest.mark.parametrize(
    "changes",
    [{"amount_total": "7900"}, {"payment_intent": None}, {"currency": 840}, {"amount_total": None}],
)
def test_a_signed_event_missing_the_fields_it_needs_is_a_400_and_is_not_stored(client, course, changes):
    response = post_event(client, paid_event(sign_up(course), **changes))

    assert response.status_code == 400
    assert response.text.startswith("malformed checkout.session.completed evt_1QfA2bCZ6qsJgndJ8xYz0001")
    assert (StripeEvent.objects.count(), Payment.objects.count(), Subscriber.objects.count()) == (0, 0, 0)


def test_a_body_that_is_not_utf8_is_a_400(client, db):
    response = client.post("/stripe/webhook/", b"\xff\xfe\x00", content_type="application/json", headers=_signed("x"))
    assert response.status_code == 400
    assert response.text == "the body is not UTF-8"


def test_the_webhook_only_answers_post(client, db):
    assert client.get("/stripe/webhook/").status_code == 405


def test_an_event_signed_with_the_local_secret_is_refused_when_stripe_is_configured(client, course):
    response = post_event(client, paid_event(sign_up(course)), secret=checkout.local_webhook_secret())

    assert response.status_code == 400
    assert Subscriber.objects.count() == 0
