from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from subscribers import checkout


def home(request: HttpRequest) -> HttpResponse:
    """The course page: what a clinician needs to decide, the price, and the way in."""
    return render(request, "subscribers/home.html", {"course": checkout.signup_course()})


def undo_reply(request: HttpRequest, token: str) -> HttpResponse:
    """The confirmation email's undo link. GET asks (mail scanners open links); POST undoes, once."""
    from subscribers import inbound

    reply = inbound.reply_for_undo_token(token)
    if reply is None or reply.subscriber is None:
        return render(request, "subscribers/undo.html", {"invalid": True}, status=404)
    reverted = None
    if request.method == "POST":
        reverted = inbound.undo(reply)
        reply.refresh_from_db()
    from subscribers.changes import Change
    from subscribers.emails import describe_change

    read_as = "; ".join(describe_change(Change(**item)) for item in reply.applied.get("changes", []))
    context = {"reply": reply, "reverted": reverted, "read_as": read_as or "no change"}
    return render(request, "subscribers/undo.html", context)
