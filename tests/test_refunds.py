"""What a paying customer sees when money goes wrong: the admin's refund asks first, the reader
is told their course has stopped and why, and the duplicate-payment page names a support address."""

from __future__ import annotations

import pytest

from subscribers.models import Payment, Signup, Subscriber
from tests.conftest import enrol, outbox_to
from tests.test_checkout import WEBHOOK_SECRET, paid_event, post_event, sign_up, stripe_event
from tests.test_signup import ANSWERS, STATIC_WITHOUT_MANIFEST

CHOSEN = "/admin/subscribers/payment/"


@pytest.fixture(autouse=True)
def signup_course(settings):
    settings.SIGNUP_COURSE = "test-course"


@pytest.fixture
def local_checkout(settings):
    settings.STRIPE_SECRET_KEY = settings.STRIPE_WEBHOOK_SECRET = settings.STRIPE_PRICE_ID = ""
    settings.LOCAL_CHECKOUT = True


@pytest.fixture
def admin_client(client, db, settings):
    from django.contrib.auth.models import User

    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": STATIC_WITHOUT_MANIFEST}}
    client.force_login(User.objects.create_superuser("dana", "dana@example.com", "a-long-admin-password"))
    return client


def test_the_admin_refund_asks_first_and_changes_nothing_until_yes(admin_client, course, local_checkout, settings):
    admin_client.post("/start/", ANSWERS)
    admin_client.post(f"/checkout/local/{Signup.objects.get().reference}/")
    payment = Payment.objects.get()

    page = admin_client.post(CHOSEN, {"action": "refund", "_selected_action": [payment.pk]})

    assert page.status_code == 200
    assert "Refund these payments in full?" in page.text
    assert payment.payment_intent_id in page.text and "carol@example.com" in page.text
    assert "Yes, refund 1 payment" in page.text
    assert Payment.objects.get().status == "paid" and Subscriber.objects.get().status == "active"


def test_a_refund_tells_the_reader_their_course_stopped_and_why(
    admin_client, course, local_checkout, settings, django_capture_on_commit_callbacks
):
    settings.SUPPORT_EMAIL = "help@pivotpath.example"
    admin_client.post("/start/", ANSWERS)
    admin_client.post(f"/checkout/local/{Signup.objects.get().reference}/")
    before = len(outbox_to("carol@example.com"))
    chosen = {"action": "refund", "_selected_action": [Payment.objects.get().pk], "confirmed": "yes"}

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(CHOSEN, chosen, follow=True)

    assert Subscriber.objects.get().status == "refunded"
    (stopped,) = outbox_to("carol@example.com")[before:]
    assert stopped.subject == "Your Test course course has stopped"
    assert "has stopped: your payment was refunded" in stopped.text
    assert "help@pivotpath.example" in stopped.text and stopped.reply_to == ["help@pivotpath.example"]
    assert 'href="mailto:help@pivotpath.example"' in stopped.html

    with django_capture_on_commit_callbacks(execute=True):  # Stripe's own event about it: no second email
        post_event(admin_client, stripe_event("charge.refunded"))
    assert len(outbox_to("carol@example.com")) == before + 1


@pytest.fixture
def stripe_keys(settings):
    settings.STRIPE_SECRET_KEY, settings.STRIPE_PRICE_ID = "sk_test_pivotpath", "price_test_79"
    settings.STRIPE_WEBHOOK_SECRET, settings.LOCAL_CHECKOUT = WEBHOOK_SECRET, False


def test_a_refund_at_stripe_tells_the_reader(client, course, stripe_keys, django_capture_on_commit_callbacks):
    post_event(client, paid_event(sign_up(course)))
    with django_capture_on_commit_callbacks(execute=True):
        post_event(client, stripe_event("charge.refunded"))
    assert Subscriber.objects.get().status == "refunded"
    assert [m.subject for m in outbox_to("carol@example.com")] == ["Your Test course course has stopped"]


def test_a_refunded_second_payment_leaves_the_course_and_sends_nothing(
    client, course, stripe_keys, django_capture_on_commit_callbacks
):
    carol = enrol(course, "carol@example.com", first_name="Carol")
    post_event(client, paid_event(sign_up(course)))  # a second payment: flagged, no second course
    with django_capture_on_commit_callbacks(execute=True):
        post_event(client, stripe_event("charge.refunded"))
    carol.refresh_from_db()
    assert carol.status == "active" and outbox_to("carol@example.com") == []


def test_the_duplicate_payment_page_gives_the_support_address(client, course, local_checkout, settings):
    settings.SUPPORT_EMAIL = "help@pivotpath.example"
    client.post("/start/", ANSWERS)
    signup = Signup.objects.get()
    enrol(course, "carol@example.com", first_name="Carol")  # enrolled meanwhile (another tab, a comp)
    client.post(f"/checkout/local/{signup.reference}/")
    assert Payment.objects.get().needs_refund is True

    page = client.get("/welcome/").text
    assert "Your payment arrived, but we could not start the course" in page
    assert 'href="mailto:help@pivotpath.example"' in page and str(signup.reference) in page
