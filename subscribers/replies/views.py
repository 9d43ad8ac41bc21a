"""The confirmation email's undo link: a thin view over subscribers.replies.inbound."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from subscribers.readers.changes import Change
from subscribers.replies import inbound
from subscribers.sending.emails import describe_change


def undo_reply(request: HttpRequest, token: str) -> HttpResponse:
    """GET asks (mail scanners open links); POST undoes, once."""
    reply = inbound.reply_for_undo_token(token)
    if reply is None or reply.subscriber is None:
        return render(request, "subscribers/undo.html", {"invalid": True}, status=404)
    reverted = None
    if request.method == "POST":
        reverted = inbound.undo(reply)
        reply.refresh_from_db()
    read_as = "; ".join(describe_change(Change(**item)) for item in reply.applied.get("changes", []))
    put_back = "; ".join(describe_restored(change) for change in reverted or [])
    context = {"reply": reply, "reverted": reverted, "read_as": read_as or "no change", "put_back": put_back}
    return render(request, "subscribers/undo.html", context)


def describe_restored(change: Change) -> str:
    """What an undo put back, in the reader's words ("stage 2, conversations"; "the course running")."""
    if change.what == "status":
        return {"active": "the course running", "paused": "the course paused", "unsubscribed": "unsubscribed"}.get(
            change.after, change.after
        )
    return describe_change(change)
