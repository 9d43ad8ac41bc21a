"""Email to an SMTP relay: Django's SMTP backend, plus `prepare()`.

`prepare(message)` works out a message's envelope and the bytes it puts on the wire ahead of
the send, with Django's own functions; `_send` then only talks to the server. The drip calls it
from its helper thread (`drip._prepared`) while the message before is on the wire. A message
not prepared is sent as Django sends it.

    EMAIL_BACKEND=subscribers.sending.smtp.EmailBackend EMAIL_HOST=relay.example.com EMAIL_PORT=587
"""

from __future__ import annotations

import smtplib

from django.conf import settings
from django.core.mail.backends import smtp
from django.core.mail.message import sanitize_address


class EmailBackend(smtp.EmailBackend):
    def prepare(self, message) -> None:
        encoding = message.encoding or settings.DEFAULT_CHARSET
        message.prepared = (
            sanitize_address(message.from_email, encoding),
            [sanitize_address(address, encoding) for address in message.recipients()],
            message.message().as_bytes(linesep="\r\n"),
        )

    def _send(self, email_message) -> bool:
        prepared = getattr(email_message, "prepared", None)
        if prepared is None:
            return super()._send(email_message)
        if not prepared[1]:
            return False
        try:
            self.connection.sendmail(*prepared)
        except smtplib.SMTPException:
            if not self.fail_silently:
                raise
            return False
        return True
