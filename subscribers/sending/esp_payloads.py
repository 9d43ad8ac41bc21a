"""Inbound webhook payloads shaped like each ESP's, built from a raw MIME message.

The dev outbox's "reply to this" form posts them to the real anymail webhook view (so a
fresh machine runs the production code path), and the tests and the benchmark use them too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import formatdate, getaddresses, make_msgid, parseaddr

from django.conf import settings

INBOUND_PATHS = {
    "postmark": "/anymail/postmark/inbound/",
    "mailgun": "/anymail/mailgun/inbound_mime/",
    "amazon_ses": "/anymail/amazon_ses/inbound/",
}


@dataclass(frozen=True)
class Payload:
    path: str
    content_type: str
    body: bytes
    headers: dict[str, str]


def _full(addresses: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"Email": email, "Name": name, "MailboxHash": ""} for name, email in addresses]


def postmark(raw: bytes) -> Payload:
    """Postmark's inbound JSON, with "Include raw email content" on (RawEmail)."""
    message = message_from_bytes(raw, policy=policy.default)
    sender = parseaddr(str(message.get("From", "")))
    to = getaddresses([str(value) for value in message.get_all("To", [])])
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    body = {
        "FromName": sender[0],
        "From": sender[1],
        "FromFull": {"Email": sender[1], "Name": sender[0], "MailboxHash": ""},
        "To": ", ".join(address for _, address in to),
        "ToFull": _full(to),
        "CcFull": [],
        "BccFull": [],
        "OriginalRecipient": to[0][1] if to else "",
        "Subject": str(message.get("Subject", "")),
        "MessageID": str(uuid.uuid4()),
        "ReplyTo": "",
        "MailboxHash": "",
        "Date": str(message.get("Date", "")),
        "TextBody": text.get_content() if text is not None else "",
        "HtmlBody": html.get_content() if html is not None else "",
        "StrippedTextReply": "",
        "Tag": "",
        "Headers": [{"Name": "Return-Path", "Value": f"<{sender[1]}>"}]
        + [{"Name": name, "Value": str(value)} for name, value in message.items() if name.lower() != "return-path"],
        # Postmark posts each attachment here, base64, and again inside RawEmail.
        "Attachments": [
            {
                "Name": part.get_filename() or "",
                "Content": base64.b64encode(part.get_payload(decode=True) or b"").decode(),
                "ContentType": part.get_content_type(),
                "ContentLength": len(part.get_payload(decode=True) or b""),
            }
            for part in message.iter_attachments()
        ],
        "RawEmail": raw.decode("utf-8", "replace"),
    }
    return Payload(INBOUND_PATHS["postmark"], "application/json", json.dumps(body).encode(), {})


def mailgun(raw: bytes, signing_key: str | None = None) -> Payload:
    """Mailgun's forward() route to a URL containing "mime": form fields with body-mime, HMAC-signed."""
    from urllib.parse import urlencode

    message = message_from_bytes(raw, policy=policy.default)
    key = signing_key or settings.ANYMAIL.get("MAILGUN_WEBHOOK_SIGNING_KEY", "")
    timestamp, token = str(int(time.time())), uuid.uuid4().hex
    signature = hmac.new(key.encode("ascii"), f"{timestamp}{token}".encode("ascii"), hashlib.sha256).hexdigest()
    fields = {
        "recipient": parseaddr(str(message.get("To", "")))[1],
        "sender": parseaddr(str(message.get("From", "")))[1],
        "from": str(message.get("From", "")),
        "subject": str(message.get("Subject", "")),
        "body-mime": raw.decode("utf-8", "replace"),
        "timestamp": timestamp,
        "token": token,
        "signature": signature,
    }
    return Payload(INBOUND_PATHS["mailgun"], "application/x-www-form-urlencoded", urlencode(fields).encode(), {})


def amazon_ses(raw: bytes) -> Payload:
    """An SNS Notification carrying an SES "Received" event with the message inline (SNS action, BASE64)."""
    message = message_from_bytes(raw, policy=policy.default)
    sns_id = str(uuid.uuid4())
    ses_event = {
        "notificationType": "Received",
        "mail": {
            "timestamp": "2026-03-02T15:00:00.000Z",
            "source": parseaddr(str(message.get("From", "")))[1],
            "messageId": uuid.uuid4().hex,
            "destination": [parseaddr(str(message.get("To", "")))[1]],
            "commonHeaders": {"subject": str(message.get("Subject", ""))},
        },
        "receipt": {
            "recipients": [parseaddr(str(message.get("To", "")))[1]],
            "spamVerdict": {"status": "PASS"},
            "virusVerdict": {"status": "PASS"},
            "action": {"type": "SNS", "topicArn": "arn:aws:sns:us-east-1:123456789012:inbound", "encoding": "BASE64"},
        },
        "content": base64.b64encode(raw).decode("ascii"),
    }
    sns = {
        "Type": "Notification",
        "MessageId": sns_id,
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:inbound",
        "Subject": "Amazon SES Email Receipt Notification",
        "Message": json.dumps(ses_event),
        "Timestamp": "2026-03-02T15:00:00.000Z",
        "SignatureVersion": "1",
        "Signature": "EXAMPLE",
        "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-example.pem",
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
    }
    headers = {"x-amz-sns-message-type": "Notification", "x-amz-sns-message-id": sns_id}
    return Payload(INBOUND_PATHS["amazon_ses"], "text/plain; charset=UTF-8", json.dumps(sns).encode(), headers)


BUILDERS = {"postmark": postmark, "mailgun": mailgun, "amazon_ses": amazon_ses}


def for_esp(esp: str, raw: bytes) -> Payload:
    return BUILDERS[esp](raw)


def reply_mime(
    *, sender: str, to: str, subject: str, in_reply_to: str, quoted_from: str, quoted_text: str, text: str
) -> bytes:
    """A plain-text reply the way Gmail writes one: new text on top, the original quoted below."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject if subject.lower().startswith("re:") else f"Re: {subject}"
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "localhost")
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
        message["References"] = in_reply_to
    quoted = "\n".join(f"> {line}" if line else ">" for line in quoted_text.splitlines())
    message.set_content(f"{text.strip()}\n\nOn {formatdate(localtime=False)}, {quoted_from} wrote:\n\n{quoted}\n")
    return message.as_bytes()
