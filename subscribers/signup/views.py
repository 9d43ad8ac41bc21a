"""The course page, sign-up pages and the Stripe webhook: thin views over subscribers.signup.checkout."""

from __future__ import annotations

import uuid
from email.utils import parseaddr

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from course.schedule import zone
from course.vocabulary import Destination
from subscribers.models import Signup
from subscribers.readers.course_time import hour_label
from subscribers.readers.links import plan_url
from subscribers.signup import checkout
from subscribers.signup.forms import IntakeForm

SESSION_KEY = "signup"


def home(request: HttpRequest) -> HttpResponse:
    """The course page: what a clinician needs to decide, the price, and the way in."""
    return render(request, "subscribers/home.html", {"course": checkout.signup_course()})


def _session_signup(request: HttpRequest) -> Signup | None:
    reference = request.session.get(SESSION_KEY)
    if not reference:
        return None
    return Signup.objects.select_related("course", "subscriber").filter(reference=reference).first()


@require_http_methods(["GET", "POST"])
def start(request: HttpRequest) -> HttpResponse:
    course = checkout.signup_course()
    if course is None:
        raise Http404("No course is open for sign-up yet.")
    signup = _session_signup(request)
    # Answers already given stay on the form until they are paid for (errors, a cancelled checkout).
    open_signup = signup if signup and signup.status == Signup.Status.OPEN and signup.course_id == course.pk else None
    open_signup_email = open_signup.email if open_signup else ""
    form = IntakeForm(request.POST or None, instance=open_signup, course=course)
    if request.method == "POST" and form.is_valid():
        signup = form.save(commit=False)
        new = open_signup is None or open_signup_email != signup.email  # not the same form sent again
        signup.course = course
        signup.save()
        checkout.tell_if_enrolled(signup, new=new)
        request.session[SESSION_KEY] = str(signup.reference)
        try:
            return redirect(checkout.start_checkout(signup))
        except checkout.CheckoutUnavailable as exc:
            form.add_error(None, str(exc))
    return render(
        request,
        "subscribers/start.html",
        {"form": form, "course": course, "cancelled": "cancelled" in request.GET, "mode": checkout.mode()},
        status=400 if form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
def local_checkout(request: HttpRequest, reference: uuid.UUID) -> HttpResponse:
    if checkout.mode() != "local":
        raise Http404("The local checkout is only for machines without Stripe keys.")
    signup = get_object_or_404(Signup.objects.select_related("course"), reference=reference)
    if signup.status != Signup.Status.OPEN:
        return redirect("welcome")
    if request.method == "POST":
        result = checkout.pay_locally(signup)
        if result.status == 200:
            request.session[SESSION_KEY] = str(signup.reference)
            return redirect("welcome")
        return render(
            request, "subscribers/local_checkout.html", {"signup": signup, "error": result.message}, status=400
        )
    return render(request, "subscribers/local_checkout.html", {"signup": signup})


def welcome(request: HttpRequest) -> HttpResponse:
    signup = _session_signup(request)
    session_id = request.GET.get("session_id", "")
    if signup is None and session_id:
        signup = Signup.objects.select_related("course", "subscriber").filter(checkout_session_id=session_id).first()
    subscriber = signup.subscriber if signup else None
    context = {
        "signup": signup,
        "subscriber": subscriber,
        "send_day": subscriber.enrolled_at.astimezone(zone(subscriber.time_zone)).strftime("%A") if subscriber else "",
        "send_time": hour_label(subscriber.send_hour) if subscriber else "",
        "from_address": parseaddr(settings.DEFAULT_FROM_EMAIL)[1],
        "stage_meaning": subscriber.course.words.stage(subscriber.stage).meaning if subscriber else "",
        "track": _track_words(subscriber) if subscriber else "",
        "plan_url": plan_url(subscriber) if subscriber else "",
    }
    return render(request, "subscribers/welcome.html", context)


def _track_words(subscriber) -> str:
    if subscriber.destination == Destination.UNDECIDED:
        return "the tracks compared side by side until you choose one"
    if subscriber.destination == Destination.CHANGE_SETTING:
        return "staying in direct care in a setting that suits you better"
    return f"your track, {subscriber.course.words.destination_label(subscriber.destination).lower()}"


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    result = checkout.receive_event(request.body, request.headers.get("Stripe-Signature"))
    return HttpResponse(result.message, status=result.status, content_type="text/plain; charset=utf-8")
