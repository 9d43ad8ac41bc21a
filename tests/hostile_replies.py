"""Hostile replies: bodies shaped to make a reply reader slow (long lines, blank runs, repeated quote
headers, huge parts). tests/test_reply_reading.py and bench/inbound.py read each one and time it."""

from __future__ import annotations

from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

QUOTE_HEADER = "On Mon, Mar 2, 2026 at 8:00 AM Pivot Path <course@pivotpath.localhost> wrote:\n"
# Postmark takes inbound messages with up to 35 MB of attachments; a text body that big is the worst.
ESP_LIMIT_BYTES = 35 * 1024 * 1024


def _text(body: str, subtype: str = "plain") -> MIMEText:
    return MIMEText(body, subtype, "utf-8")


def _addressed(message) -> bytes:
    message["From"] = "Carol Diaz <carol@example.com>"
    message["To"] = "reply+TOKEN@reply.pivotpath.localhost"
    message["Subject"] = "Re: Check-in: where are you now?"
    message["Message-ID"] = "<hostile@mail.example.com>"
    return message.as_bytes()


def _with_attachment(size: int) -> bytes:
    message = MIMEMultipart()
    message.attach(_text("3\n\n" + QUOTE_HEADER + "> 1. Deciding\n"))
    part = MIMEBase("application", "pdf")
    part.set_payload(b"%PDF-1.4\n" + b"\x00\x01binary" * (size // 8))
    from email import encoders

    encoders.encode_base64(part)
    part.add_header("Content-Disposition", "attachment", filename="resume.pdf")
    message.attach(part)
    return _addressed(message)


def cases(esp_limit: bool = False) -> dict[str, bytes]:
    """Each hostile reply as raw MIME; `esp_limit` adds one text body as big as the ESP accepts."""
    found = {
        "3 then 20,000 blank lines": _addressed(_text("3" + "\n" * 20_000)),
        "blank lines of spaces and zero-width spaces": _addressed(_text("3" + "\n \t\u200b" * 20_000)),
        "50,000 short lines": _addressed(_text("a\n" * 50_000)),
        "one line of a million characters": _addressed(_text("a" * 1_000_000)),
        'one line of "On " repeated': _addressed(_text("On " * 200_000)),
        "50,000 quoted lines": _addressed(_text("3\n" + "> quoted\n" * 50_000)),
        "20,000 quote headers": _addressed(_text(QUOTE_HEADER * 20_000)),
        "10,000 Outlook header pairs": _addressed(_text("3\n" + "From: x\nSent: y\n" * 10_000)),
        "a million dashes": _addressed(_text("-" * 1_000_000)),
        "10,000 underscore separators": _addressed(_text(("_" * 40 + "\n") * 10_000)),
        "cue words over and over": _addressed(_text(("interviewing with pharma not yet maybe 3 " * 30 + "\n") * 300)),
        "digits over and over": _addressed(_text(("1 2 3 4 5 " * 100 + "\n") * 500)),
        "half a million question marks": _addressed(_text("?" * 500_000)),
        "addresses ending in colons": _addressed(_text("x@y.com <a@b.com>:\n> q\n" * 10_000)),
        "50,000 hyphen list items": _addressed(_text("- item\n" * 50_000)),
        "sign-offs over and over": _addressed(_text("Best regards,\nThanks,\n" * 10_000)),
        "disclaimers over and over": _addressed(_text("CAUTION: this mail is external mail mail\n" * 10_000)),
        "nested HTML only": _addressed(_text("<div>" * 50_000 + "3" + "<blockquote>x</blockquote>" * 20_000, "html")),
        "a 1 MB attachment": _with_attachment(1024 * 1024),
    }
    if esp_limit:
        found["a text body at the ESP's 35 MB limit"] = _addressed(_text("3 " + "word " * (ESP_LIMIT_BYTES // 5)))
    return found
