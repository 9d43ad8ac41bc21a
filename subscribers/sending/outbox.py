"""The local outbox: an email backend that keeps every message in the database instead of
sending it. The default on a fresh machine; `/dev/outbox/` shows what it holds."""

from __future__ import annotations

from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.message import EmailMessage

from subscribers.models import OutboxMessage


class OutboxBackend(BaseEmailBackend):
    def send_messages(self, email_messages: list[EmailMessage]) -> int:
        kept = [self._keep(message) for message in email_messages if message.recipients()]
        return len(kept)

    def _keep(self, message: EmailMessage) -> OutboxMessage:
        html = next(
            (content for content, mimetype in getattr(message, "alternatives", []) if mimetype == "text/html"), ""
        )
        mime = message.message()
        return OutboxMessage.objects.create(
            message_id=mime["Message-ID"] or "",
            from_email=message.from_email,
            to=list(message.to),
            recipient=(message.to or message.recipients())[0].lower(),
            reply_to=list(message.reply_to),
            subject=message.subject,
            text=message.body,
            html=html,
            headers={key: str(value) for key, value in mime.items()},
            raw=mime.as_string(),
        )
