"""The sign-up pages: course page, intake form, Stripe Checkout (against a local stub of the
Stripe API), the local signed checkout, the welcome page and the admin's refund."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest
import responses
from django.contrib.auth.models import User
from django.test import Client

from subscribers.models import Payment, Signup, Subscriber
from subscribers.readers.links import preferences_url
from subscribers.sending import drip
from subscribers.signup import checkout
from tests.conftest import FIXTURES, enrol, outbox_to
from tests.test_checkout import WEBHOOK_SECRET, paid_event, post_event, sign_up, stripe_event

STRIPE_API = "https://api.stripe.com/v1"
STATIC_WITHOUT_MANIFEST = "django.contrib.staticfiles.storage.StaticFilesStorage"

ANSWERS = {
    "email": "Carol@Example.com",
    "first_name": "Carol",
    "profession": "rn",
    "specialty": "ICU nurse",
    "leaving": "care",
    "destination": "payer",
    "license": "keep",
    "pay_need": "modest-drop",
    "time_zone": "America/Chicago",
    "send_hour": "7",
}


@pytest.fixture(autouse=True)
def signup_course(settings):
    settings.SIGNUP_COURSE = "test-course"


@pytest.fixture
def stripe_keys(settings):
    settings.STRIPE_SECRET_KEY = "sk_test_pivotpath"
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_PRICE_ID = "price_test_79"
    settings.LOCAL_CHECKOUT = False


@pytest.fixture
def local_checkout(settings):
    settings.STRIPE_SECRET_KEY = settings.STRIPE_WEBHOOK_SECRET = settings.STRIPE_PRICE_ID = ""
    settings.LOCAL_CHECKOUT = True


def stripe_response(name: str, **changes) -> dict:
    return {**json.loads((FIXTURES / "stripe" / f"{name}.response.json").read_text()), **changes}


# --- The course page ---------------------------------------------------------------------------


def test_the_course_page_shows_the_promise_the_questions_the_price_and_the_way_in(client, course):
    page = client.get("/")

    assert page.status_code == 200
    for words in [
        "Your plan is built around what you tell us",
        "Are you leaving direct care, or leaving your setting?",
        "Will you keep your license active?",
        "What does your household need you to earn?",
        "Months 1\N{EN DASH}3",
        "Months 3\N{EN DASH}6",
        "Months 6\N{EN DASH}12",
        "replying with a number",
        "Should I keep my license active?",
        "$79, once",
        'href="/start/"',
    ]:
        assert words in page.text, words
    assert "http://" not in page.text.replace('content="', "") and "https://" not in page.text, "no outside assets"


def test_the_course_page_says_what_to_do_when_no_course_is_imported(client, db):
    page = client.get("/")
    assert page.status_code == 200
    assert "import_lessons lessons/content" in page.text


# --- The intake form ---------------------------------------------------------------------------


def test_the_form_names_every_missing_answer_and_keeps_what_was_typed(client, course, local_checkout):
    page = client.post("/start/", {"email": "carol@example", "first_name": "Carol", "specialty": "ICU nurse"})

    assert page.status_code == 400
    assert "Please fix 8 things" in page.text
    for message in [
        "Enter an email address like name@example.com.",
        "Choose your profession, or &#x27;other licensed clinician&#x27;.",
        "Choose what you are leaving, or &#x27;not sure yet&#x27;.",
        "Choose a destination, or &#x27;undecided&#x27;.",
        "Choose what happens to your license, or &#x27;not decided&#x27;.",
        "Choose what your household needs, or &#x27;haven&#x27;t worked it out&#x27;.",
        "Choose your time zone, so lessons arrive at your hour, not ours.",
        "Choose the hour your email should arrive.",
    ]:
        assert message in page.text, message
    assert 'value="carol@example"' in page.text and 'value="ICU nurse"' in page.text
    assert 'aria-invalid="true"' in page.text
    assert Signup.objects.count() == 0


def test_an_address_already_enrolled_gets_the_same_answer_and_its_link_by_email(
    client, course, local_checkout, django_capture_on_commit_callbacks
):
    carol = enrol(course, "carol@example.com", first_name="Carol")
    newcomer = client.post("/start/", {**ANSWERS, "email": "dana@example.com"})

    with django_capture_on_commit_callbacks(execute=True):
        page = client.post("/start/", ANSWERS)

    assert page.status_code == newcomer.status_code == 302
    assert page["Location"].startswith("/checkout/local/")  # as for anyone: the page names nobody
    assert "enrolled" not in page.content.decode().lower()
    (notice,) = outbox_to("carol@example.com")
    assert notice.subject == f"You are already enrolled in {course.title}"
    assert preferences_url(carol) in notice.text
    assert outbox_to("dana@example.com") == []

    with django_capture_on_commit_callbacks(execute=True):  # the form again, and another browser, the same day
        assert client.post("/start/", ANSWERS).status_code == 302
        assert Client().post("/start/", ANSWERS).status_code == 302
    assert len(outbox_to("carol@example.com")) == 1
    assert Signup.objects.filter(email="carol@example.com").count() == 2


def test_stripe_checkout_opens_with_the_price_the_email_and_the_signup_reference(client, course, stripe_keys):
    with responses.RequestsMock() as stripe_api:
        stripe_api.post(f"{STRIPE_API}/checkout/sessions", json=stripe_response("checkout.session.created"))
        page = client.post("/start/", ANSWERS)
        (call,) = stripe_api.calls
    sent = parse_qs(call.request.body)

    signup = Signup.objects.get()
    assert page.status_code == 302
    assert page["Location"].startswith("https://checkout.stripe.com/c/pay/cs_test_")
    assert sent["mode"] == ["payment"]
    assert sent["line_items[0][price]"] == ["price_test_79"]
    assert sent["line_items[0][quantity]"] == ["1"]
    assert sent["customer_email"] == ["carol@example.com"]
    assert sent["client_reference_id"] == [str(signup.reference)]
    assert sent["success_url"] == ["http://127.0.0.1:8000/welcome/?session_id={CHECKOUT_SESSION_ID}"]
    assert sent["cancel_url"] == ["http://127.0.0.1:8000/start/?cancelled=1"]
    assert call.request.headers["Authorization"] == "Bearer sk_test_pivotpath"
    assert (signup.email, signup.status, signup.checkout_session_id) == (
        "carol@example.com",
        "open",
        "cs_test_a1B2c3D4e5F6g7H8i9J0kLmNoPqRsTuVwXyZ",
    )


def test_a_cancelled_checkout_brings_the_reader_back_to_their_answers(client, course, stripe_keys):
    with responses.RequestsMock() as stripe_api:
        stripe_api.post(f"{STRIPE_API}/checkout/sessions", json=stripe_response("checkout.session.created"))
        client.post("/start/", ANSWERS)

    page = client.get("/start/?cancelled=1")

    assert page.status_code == 200
    assert "Checkout cancelled. Nothing was charged." in page.text
    assert 'value="carol@example.com"' in page.text
    assert '<option value="America/Chicago" selected>' in page.text
    assert 'value="payer" selected' in page.text
    assert 'value="modest-drop"' in page.text and "checked" in page.text

    # Changing an answer and paying again updates the same signup.
    with responses.RequestsMock() as stripe_api:
        stripe_api.post(f"{STRIPE_API}/checkout/sessions", json=stripe_response("checkout.session.created"))
        client.post("/start/", {**ANSWERS, "destination": "consulting"})
    assert list(Signup.objects.values_list("destination", flat=True)) == ["consulting"]


def test_when_stripe_cannot_be_reached_the_answers_are_kept_and_the_reader_is_told(client, course, stripe_keys):
    with responses.RequestsMock() as stripe_api:
        stripe_api.post(
            f"{STRIPE_API}/checkout/sessions",
            status=400,
            json={"error": {"type": "invalid_request_error", "message": "No such price: 'price_test_79'"}},
        )
        page = client.post("/start/", ANSWERS)

    assert page.status_code == 400
    assert "We could not reach our payment provider. Nothing was charged" in page.text
    assert 'value="Carol@Example.com"' in page.text
    assert Signup.objects.get().status == "open"


def test_without_stripe_keys_or_local_checkout_no_payment_is_attempted(client, course, settings):
    settings.STRIPE_SECRET_KEY, settings.LOCAL_CHECKOUT = "", False

    page = client.post("/start/", ANSWERS)

    assert page.status_code == 400
    assert "Payments are not set up on this site yet." in page.text


# --- The local signed checkout -----------------------------------------------------------------


def test_a_newcomer_pays_through_the_local_checkout_and_gets_the_welcome(client, course, local_checkout):
    start = client.post("/start/", ANSWERS)
    signup = Signup.objects.get()
    assert start.status_code == 302
    assert start["Location"] == f"/checkout/local/{signup.reference}/"

    page = client.get(start["Location"])
    assert "Local test checkout: no real payment." in page.text
    assert "$79.00" in page.text

    paid = client.post(start["Location"])
    assert paid.status_code == 302
    assert paid["Location"] == "/welcome/"

    carol = Subscriber.objects.get()
    assert (carol.stage, carol.destination, carol.profession) == ("conversations", "payer", "rn")
    payment = Payment.objects.get()
    assert payment.payment_intent_id.startswith("pi_local_") and payment.is_local
    assert payment.signup == signup
    welcome = client.get("/welcome/")
    assert "You're in, Carol" in welcome.text
    assert "carol@example.com" in welcome.text
    # The reader's words, not slugs: where she is, her track, how often check-ins come.
    assert "for where you are now (talking to people who made the move) and for your track, payer." in welcome.text
    assert f"About every {course.checkin_interval_weeks} weeks, a check-in." in welcome.text
    assert "(conversations)" not in welcome.text and "See your plan</a>" in welcome.text
    drip.send_delivery(drip.tick(queue=False).delivery_ids[0])
    assert [m.subject for m in outbox_to("carol@example.com")] == ["Welcome, Carol"]


def test_the_local_checkout_event_passes_the_real_stripe_verification(course, local_checkout):
    event = json.dumps(checkout.local_checkout_event(sign_up(course)))
    header = checkout.stripe.WebhookSignature.generate_signature_header(event, checkout.local_webhook_secret())

    verified = checkout.stripe.Webhook.construct_event(event, header, checkout.local_webhook_secret())

    assert verified.type == "checkout.session.completed"
    assert verified.data.object.payment_status == "paid"
    assert verified.data.object.amount_total == 7900


def test_the_local_checkout_does_not_exist_when_stripe_is_configured(client, course, stripe_keys):
    signup = sign_up(course)
    assert client.get(f"/checkout/local/{signup.reference}/").status_code == 404
    assert client.post(f"/checkout/local/{signup.reference}/").status_code == 404
    assert Subscriber.objects.count() == 0


def test_a_signup_already_paid_cannot_be_paid_locally_again(client, course, local_checkout):
    client.post("/start/", ANSWERS)
    signup = Signup.objects.get()
    client.post(f"/checkout/local/{signup.reference}/")

    again = client.post(f"/checkout/local/{signup.reference}/")

    assert again["Location"] == "/welcome/"
    assert Payment.objects.count() == 1


# --- The welcome page --------------------------------------------------------------------------


def test_the_welcome_page_waits_for_the_webhook_then_says_what_happens_next(client, course, stripe_keys):
    with responses.RequestsMock() as stripe_api:
        stripe_api.post(f"{STRIPE_API}/checkout/sessions", json=stripe_response("checkout.session.created"))
        client.post("/start/", ANSWERS)

    waiting = client.get("/welcome/?session_id=cs_test_a1B2c3D4e5F6g7H8i9J0kLmNoPqRsTuVwXyZ")
    assert "Confirming your payment" in waiting.text
    assert 'http-equiv="refresh"' in waiting.text

    post_event(client, paid_event(Signup.objects.get()))
    done = client.get("/welcome/")
    assert "You're in, Carol" in done.text
    assert "7:00 am (America/Chicago)" in done.text


# --- The admin ---------------------------------------------------------------------------------


@pytest.fixture
def admin_client(client, db, settings):
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": STATIC_WITHOUT_MANIFEST}}
    client.force_login(User.objects.create_superuser("dana", "dana@example.com", "a-long-admin-password"))
    return client


def refund_in_admin(admin_client, payment: Payment):
    """The action asks first (tests/test_refunds.py), then refunds on the confirmation's "Yes"."""
    chosen = {"action": "refund", "_selected_action": [payment.pk]}
    assert "Refund these payments in full?" in admin_client.post("/admin/subscribers/payment/", chosen).text
    return admin_client.post("/admin/subscribers/payment/", {**chosen, "confirmed": "yes"}, follow=True)


def test_the_admin_refunds_through_stripe_and_the_course_stops(admin_client, course, stripe_keys):
    post_event(admin_client, paid_event(sign_up(course)))
    payment = Payment.objects.get()

    with responses.RequestsMock() as stripe_api:
        stripe_api.post(f"{STRIPE_API}/refunds", json=stripe_response("refund.created"))
        page = refund_in_admin(admin_client, payment)
        (call,) = stripe_api.calls
    sent = parse_qs(call.request.body)

    assert sent == {"payment_intent": [payment.payment_intent_id], "reason": ["requested_by_customer"]}
    assert call.request.headers["Idempotency-Key"] == f"refund-{payment.payment_intent_id}"
    assert f"Refund of {payment.payment_intent_id}: course stopped for carol@example.com (refunded)" in page.text
    payment.refresh_from_db()
    assert (payment.status, payment.refund_id) == ("refunded", "re_3QfA2bCZ6qsJgndJ0r1e2f3u")
    carol = Subscriber.objects.get()
    assert carol.status == "refunded"
    assert carol.events.filter(what="payment_refunded", actor="admin:dana").count() == 1

    # Stripe's own event about the same refund changes nothing more.
    assert post_event(admin_client, stripe_event("charge.refunded")).text.endswith("was already refunded")

    history = admin_client.get(f"/admin/subscribers/subscriber/{carol.pk}/change/")
    assert history.status_code == 200
    for what in ["Enrolled", "Payment received", "Payment refunded", "re_3QfA2bCZ6qsJgndJ0r1e2f3u"]:
        assert what in history.text


def test_a_refund_stripe_refuses_changes_nothing_and_says_why(admin_client, course, stripe_keys):
    post_event(admin_client, paid_event(sign_up(course)))
    payment = Payment.objects.get()

    with responses.RequestsMock() as stripe_api:
        stripe_api.post(
            f"{STRIPE_API}/refunds",
            status=400,
            json={"error": {"type": "invalid_request_error", "message": "Charge has already been refunded."}},
        )
        page = refund_in_admin(admin_client, payment)

    assert "Stripe refused the refund" in page.text
    assert "Charge has already been refunded." in page.text
    payment.refresh_from_db()
    assert payment.status == "paid"
    assert Subscriber.objects.get().status == "active"


def test_a_local_payment_is_refunded_without_calling_stripe(admin_client, course, local_checkout):
    admin_client.post("/start/", ANSWERS)
    admin_client.post(f"/checkout/local/{Signup.objects.get().reference}/")

    with responses.RequestsMock():  # any call to Stripe would fail the test
        refund_in_admin(admin_client, Payment.objects.get())

    assert Payment.objects.get().status == "refunded"
    assert Subscriber.objects.get().status == "refunded"
