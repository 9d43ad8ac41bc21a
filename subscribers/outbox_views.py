"""The dev outbox page: what the local outbox backend kept (DEBUG or OUTBOX_PAGE_ENABLED only)."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from subscribers.models import OutboxMessage


def _require_enabled() -> None:
    if not settings.OUTBOX_PAGE_ENABLED:
        raise Http404("The outbox page is off (set OUTBOX_PAGE_ENABLED or DEBUG).")


def outbox(request: HttpRequest) -> HttpResponse:
    _require_enabled()
    messages = OutboxMessage.objects.only("id", "subject", "to", "from_email", "created_at")[:200]
    return render(request, "subscribers/outbox.html", {"messages": messages})


def outbox_message(request: HttpRequest, pk: int) -> HttpResponse:
    _require_enabled()
    message = get_object_or_404(OutboxMessage, pk=pk)
    return render(request, "subscribers/outbox_message.html", {"message": message})
