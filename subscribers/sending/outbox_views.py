"""The dev outbox page: what the local outbox backend kept (DEBUG or OUTBOX_PAGE_ENABLED only).

Each course email's page has a "reply to this" form: it writes a reply the way a mail client would and
posts it, shaped like the configured ESP's inbound webhook, to the real anymail view over HTTP.
"""

from __future__ import annotations

import requests
from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from subscribers.models import OutboxMessage, Reply
from subscribers.readers.addresses import is_reply_address
from subscribers.sending import esp_payloads


def _require_enabled() -> None:
    if not settings.OUTBOX_PAGE_ENABLED:
        raise Http404("The outbox page is off (set OUTBOX_PAGE_ENABLED or DEBUG).")


def outbox(request: HttpRequest) -> HttpResponse:
    _require_enabled()
    messages_ = OutboxMessage.objects.only("id", "subject", "to", "from_email", "created_at")[:200]
    return render(request, "subscribers/outbox.html", {"messages": messages_})


def _checkin_address(message: OutboxMessage) -> str:
    """The signed reply address every course email carries (subscribers.readers.addresses)."""
    return next((address for address in message.reply_to if is_reply_address(address)), "")


def outbox_message(request: HttpRequest, pk: int) -> HttpResponse:
    _require_enabled()
    message = get_object_or_404(OutboxMessage, pk=pk)
    address = _checkin_address(message)
    replies = Reply.objects.filter(recipient__iexact=address).order_by("-received_at")[:20] if address else []
    context = {"message": message, "reply_address": address, "replies": replies, "esp": settings.INBOUND_ESP}
    return render(request, "subscribers/outbox_message.html", context)


@require_POST
def reply_to_message(request: HttpRequest, pk: int) -> HttpResponse:
    _require_enabled()
    message = get_object_or_404(OutboxMessage, pk=pk)
    text = request.POST.get("text", "").strip()
    address = _checkin_address(message) or (message.reply_to or [message.from_email])[0]
    if not text:
        messages.error(request, 'Write a reply first (for example: 3, or "interviewing, leaning toward pharma").')
        return redirect("outbox-message", pk=pk)
    raw = esp_payloads.reply_mime(
        sender=message.recipient, to=address, subject=message.subject, in_reply_to=message.message_id,
        quoted_from=message.from_email, quoted_text=message.text, text=text,
    )  # fmt: skip
    payload = esp_payloads.for_esp(settings.INBOUND_ESP, raw)
    secrets = settings.ANYMAIL.get("WEBHOOK_SECRET") or []
    auth = tuple(secrets[0].split(":", 1)) if secrets else None
    try:
        response = requests.post(
            settings.SITE_URL + payload.path,
            data=payload.body,
            headers={"Content-Type": payload.content_type, **payload.headers},
            auth=auth,
            timeout=10,
        )
    except requests.RequestException as exc:
        messages.error(request, f"Could not reach the inbound webhook at {settings.SITE_URL}{payload.path}: {exc}")
        return redirect("outbox-message", pk=pk)
    if response.ok:
        messages.success(
            request,
            f"Reply posted to {payload.path} as {settings.INBOUND_ESP} would post it. "
            "The worker reads it in a moment; what we send back (a confirmation, or a note that a person "
            "reads it) appears in the outbox, and the reply on the reader's thread in the admin's Conversations.",
        )
    else:
        messages.error(request, f"The inbound webhook answered {response.status_code}: {response.text[:200]}")
    return redirect("outbox-message", pk=pk)
