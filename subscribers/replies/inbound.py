"""Check-ins by reply (flow 4): store the inbound email, then read it and apply it.

1. `store()` — the anymail `inbound` receiver calls it: keeps the raw MIME and Message-ID
   (unique: a duplicate is dropped) and queues `process()` after commit. Bad mail never raises.
   Attachments are kept up to INBOUND_KEEP_ATTACHMENT_BYTES in all; past that each is replaced by
   a note naming it (the webhook itself takes what the ESP sends: config.urls).
2. `process()` — drops auto-replies and bounces, checks the signed reply address and the
   sender, extracts the new text, understands it, and applies it in one transaction with
   audit rows (subscribers.readers.changes); after commit, queues the confirmation with its undo link
   (`send_confirmation()`, a retried task: subscribers.tasks.send_reply_confirmation).
   Anything unclear changes nothing and goes to the review queue with the reason.
3. `undo()` and `resolve()` — the reader's undo link and the admin review actions.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import getaddresses, parseaddr
from functools import partial

from anymail.inbound import AnymailInboundMessage
from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.utils import timezone

from subscribers import queueing
from subscribers.models import Delivery, Reply, Subscriber
from subscribers.readers import audit, changes
from subscribers.readers.addresses import find_target, find_unsubscribe
from subscribers.replies import conversations
from subscribers.replies.reading import new_text
from subscribers.replies.understanding import Understanding, understand
from subscribers.sending import emails

logger = logging.getLogger(__name__)

# Named after the module's first home, and kept: tokens in emails already sent stay valid.
UNDO_SALT = "subscribers.inbound.undo"
# Replies left `received` this long (their task message was lost) are queued again by beat.
STALE_RECEIVED = timedelta(minutes=2)
# MIME parts nested deeper than this (mail clients nest a handful) keep only the top headers: the
# standard library's serialiser and walk() recurse per level and would raise RecursionError.
MAX_MIME_DEPTH = 30
# A confirmation claimed this long ago by a worker that died may be claimed again.
CONFIRMATION_CLAIM = timedelta(minutes=10)

AUTO_SUBJECT_RE = re.compile(
    r"\b(?:out of (?:the )?office|ooo|automatic reply|auto(?:matic)?[- ]?(?:reply|response|responder)|autoreply"
    r"|away from (?:my |the )?(?:desk|office|email)|on (?:annual |parental |maternity |sick )?leave|on vacation"
    r"|vacation (?:reply|notice|message)|respuesta autom[aá]tica|fuera de (?:la )?oficina|ausente|ausencia"
    r"|de vacaciones|r[ée]ponse automatique|absent(?:e)?\b|absence du bureau|hors du bureau|en cong[ée]"
    r"|abwesenheit(?:snotiz)?|automatische antwort|nicht im b[üu]ro|im urlaub"
    r"|undeliver(?:able|ed)|delivery (?:status notification|has failed|failure|incomplete)|mail delivery failed"
    r"|returned mail|failure notice|could not be delivered|unzustellbar|non remis|no se puede entregar"
    r"|notificaci[oó]n de estado de entrega)\b",
    re.IGNORECASE,
)
DAEMON_RE = re.compile(r"^(?:mailer-daemon|postmaster|no-?reply|do-?not-?reply|bounces?)(?:[+@]|$)", re.IGNORECASE)
# --- Store (the receiver) ---------------------------------------------------------------------


# What the ESP said against the sender, kept on the stored message as one header of ours so that
# processing reads it with the rest: anymail's spam flag (Postmark's X-Spam-Status, Mailgun's
# X-Mailgun-Sflag, SES's spamVerdict) and SES's own SPF, DKIM and DMARC verdicts.
VERDICT_HEADER = "X-Pivot-Path-Sender-Verdict"
SES_VERDICTS = ("spfVerdict", "dkimVerdict", "dmarcVerdict")
AUTH_RESULT_RE = re.compile(r"\b(spf|dkim|dmarc)\s*=\s*([a-z]+)", re.IGNORECASE)


def on_inbound(sender, event, esp_name: str, **kwargs) -> None:
    """The one anymail `inbound` receiver: store and queue, nothing else (connected in apps.py)."""
    store(event.message, esp=esp_name, verdict=esp_verdict(event, esp_name))


def esp_verdict(event, esp_name: str) -> str:
    """The ESP's verdicts against the sender, in words ('' when it raised none)."""
    found = []
    if getattr(event.message, "spam_detected", None) is True:
        found.append(f"{esp_name or 'the ESP'} flagged it as spam")
    receipt = event.esp_event.get("receipt") if isinstance(event.esp_event, dict) else None
    for name in SES_VERDICTS:
        verdict = (receipt or {}).get(name) or {}
        if isinstance(verdict, dict) and str(verdict.get("status", "")).upper() == "FAIL":
            found.append(f"{esp_name} {name} FAIL")
    return "; ".join(found)


def sender_doubt(message: AnymailInboundMessage) -> str:
    """Why the From address cannot be trusted, from the ESP's verdicts and the receiving servers'
    Authentication-Results ('' when nothing failed). Only failures count: a sender can add a header
    saying "pass", never remove the one that says "fail"."""
    found = [_text(value) for value in message.get_all(VERDICT_HEADER, [])]
    results: dict[str, set[str]] = {}
    for header in message.get_all("Authentication-Results", []):
        for method, result in AUTH_RESULT_RE.findall(_text(header)):
            results.setdefault(method.lower(), set()).add(result.lower())
    if "fail" in results.get("dmarc", set()):
        found.append("DMARC fail")
    elif results.get("spf", set()) & {"fail", "softfail"} and "pass" not in results.get("dkim", set()):
        found.append("SPF fail and no passing DKIM")
    spf, dkim = _header(message, "X-Mailgun-Spf").lower(), _header(message, "X-Mailgun-Dkim-Check-Result").lower()
    if spf == "fail" and dkim == "fail":
        found.append("Mailgun SPF and DKIM fail")
    return "; ".join(dict.fromkeys(item for item in found if item))


def _text(value) -> str:
    return " ".join(str(value or "").split())[:200]


def _mime_depth(message: AnymailInboundMessage) -> int:
    """How deep multipart parts nest, counted without recursion (a hostile message nests hundreds)."""
    deepest, stack = 0, [(message, 1)]
    while stack:
        part, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth <= MAX_MIME_DEPTH and part.is_multipart() and isinstance(part.get_payload(), list):
            stack.extend((child, depth + 1) for child in part.get_payload())
    return deepest


def _drop_big_attachments(message: AnymailInboundMessage) -> list[str]:
    """Attachments are kept with the reply while they total INBOUND_KEEP_ATTACHMENT_BYTES (encoded);
    each one past that is replaced by a short text part naming it, its type and size."""
    kept, dropped = 0, []
    for part in message.walk():
        if part.is_multipart() or not part.is_attachment():
            continue
        payload = part.get_payload()
        size = len(payload) if isinstance(payload, str | bytes) else 0
        if kept + size <= settings.INBOUND_KEEP_ATTACHMENT_BYTES:
            kept += size
            continue
        name = (part.get_filename() or "unnamed").replace("\x00", "")[:200]
        base64 = str(part.get("Content-Transfer-Encoding", "")).lower() == "base64" and isinstance(payload, str)
        approx = (size - payload.count("\n") - payload.count("\r")) * 3 // 4 if base64 else size
        note = f"{name} ({part.get_content_type()}, about {approx:,} bytes) was not kept."
        dropped.append(note)
        for header in ("Content-Transfer-Encoding", "Content-Type"):
            del part[header]
        part["Content-Type"] = 'text/plain; charset="utf-8"'
        part["X-Pivot-Path-Dropped"] = "attachment over the size kept"
        part.set_payload(note)
    return dropped


def _raw(message: AnymailInboundMessage) -> tuple[str, str]:
    if _mime_depth(message) > MAX_MIME_DEPTH:
        headers = "".join(f"{name}: {_header(message, name)}\r\n" for name in dict.fromkeys(message.keys()))
        return f"{headers}X-Pivot-Path-Note: body not kept, MIME nested over {MAX_MIME_DEPTH} levels\r\n\r\n", "utf-8"
    try:
        data = message.as_bytes()
    except Exception:  # a header the serializer cannot write: keep what we can
        data = str(message).encode("utf-8", "replace")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"  # 8-bit mail in a legacy charset: byte for byte


def _header(message: AnymailInboundMessage, name: str) -> str:
    try:
        return str(message.get(name, "") or "").replace("\x00", "")  # PostgreSQL text holds no NUL
    except Exception:  # malformed header
        return ""


def store(
    message: AnymailInboundMessage, *, esp: str = "", verdict: str = "", now: datetime | None = None
) -> Reply | None:
    """Keep one inbound email and queue its processing; None for a duplicate (same Message-ID).
    `verdict`: what the ESP said against the sender, kept as a header for `read()`."""
    if verdict:
        message[VERDICT_HEADER] = verdict[:300]
    if _mime_depth(message) <= MAX_MIME_DEPTH:
        _drop_big_attachments(message)
    raw, encoding = _raw(message)
    message_id = _header(message, "Message-ID").strip()[:998]
    if not message_id:
        message_id = f"<sha256-{hashlib.sha256(raw.encode(encoding, 'replace')).hexdigest()}@no-message-id>"
    recipient = (getattr(message, "envelope_recipient", None) or parseaddr(_header(message, "To"))[1] or "").replace(
        "\x00", ""
    )
    try:
        with transaction.atomic():
            reply = Reply.objects.create(
                message_id=message_id,
                sender=parseaddr(_header(message, "From"))[1][:320],
                recipient=(recipient or "")[:320],
                subject=_header(message, "Subject")[:998],
                raw=raw.replace("\x00", ""),
                raw_encoding=encoding,
                esp=esp[:40],
                received_at=now or timezone.now(),
            )
            transaction.on_commit(lambda: queue_process(reply.pk), robust=True)
    except IntegrityError:
        if not Reply.objects.filter(message_id=message_id).exists():
            raise  # not the duplicate the unique Message-ID guards against: our bug, a 500 the ESP retries
        logger.info("inbound: duplicate %s dropped", message_id)
        return None
    return reply


def queue_process(reply_id: int) -> None:
    queueing.queue(queueing.PROCESS_REPLY, reply_id)


def queue_stale(now: datetime | None = None) -> int:
    """Queue again replies still `received` after STALE_RECEIVED (their task was lost)."""
    cutoff = (now or timezone.now()) - STALE_RECEIVED
    ids = list(
        Reply.objects.filter(status=Reply.Status.RECEIVED, received_at__lt=cutoff).values_list("pk", flat=True)[:500]
    )
    for reply_id in ids:
        queue_process(reply_id)
    return len(ids)


# --- Reading a message ------------------------------------------------------------------------


def parse(reply: Reply) -> AnymailInboundMessage:
    return AnymailInboundMessage.parse_raw_mime_bytes(reply.raw.encode(reply.raw_encoding, "replace"))


def auto_reply_reason(message: AnymailInboundMessage) -> str:
    """Why this is an automatic message (RFC 3834, vacation and bounce conventions), or ""."""
    auto_submitted = _header(message, "Auto-Submitted").strip().lower()
    if auto_submitted and auto_submitted != "no":
        return f"automatic (Auto-Submitted: {auto_submitted})"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Auto-Reply", "X-Autogenerated"):
        if _header(message, name):
            return f"automatic ({name})"
    precedence = _header(message, "Precedence").strip().lower()
    if precedence in ("bulk", "junk", "list", "auto_reply", "auto-reply"):
        return f"automatic (Precedence: {precedence})"
    if _header(message, "X-Failed-Recipients"):
        return "a bounce (X-Failed-Recipients)"
    content_type = message.get_content_type()
    if content_type == "multipart/report" or any(
        part.get_content_type() in ("message/delivery-status", "message/disposition-notification")
        for part in message.walk()
    ):
        return f"a delivery or read report ({content_type})"
    sender = parseaddr(_header(message, "From"))[1]
    if DAEMON_RE.match(sender) or _header(message, "Return-Path").strip() == "<>":
        return f"a bounce or system message (from {sender or 'an empty sender'})"
    subject = _header(message, "Subject")
    match = AUTO_SUBJECT_RE.search(subject)
    if match:
        return f'an out-of-office or bounce subject ("{match.group(0)}")'
    return ""


def recipients(message: AnymailInboundMessage) -> list[str]:
    found = [getattr(message, "envelope_recipient", None) or ""]
    for name in ("To", "Cc", "Delivered-To", "X-Original-To", "Envelope-To", "X-Forwarded-To"):
        found += [address for _, address in getaddresses(message.get_all(name, []) or [])]
    return found


def same_mailbox(a: str, b: str) -> bool:
    """Whether two addresses reach the same person: case, "+tags" and Gmail's dots aside."""

    def canonical(address: str) -> str:
        local, _, domain = address.strip().lower().rpartition("@")
        local = local.split("+", 1)[0]
        domain = {"googlemail.com": "gmail.com"}.get(domain, domain)
        if domain == "gmail.com":
            local = local.replace(".", "")
        return f"{local}@{domain}"

    return bool(a and b) and canonical(a) == canonical(b)


# --- Processing -------------------------------------------------------------------------------


@dataclass
class Reading:
    """What processing found out about a reply, before anything is changed."""

    status: str = Reply.Status.REVIEW
    reason: str = ""
    subscriber: Subscriber | None = None
    delivery: Delivery | None = None
    new_text: str = ""
    understanding: Understanding | None = None
    notes: list[str] = field(default_factory=list)
    confirm: bool = True
    from_reader: bool = False  # sent from the reader's own address


def read(reply: Reply) -> Reading:
    """Read a stored reply without changing anything: auto-reply, token, sender, new text, meaning."""
    try:
        message = parse(reply)
    except Exception as exc:  # unparseable MIME
        return Reading(Reply.Status.IGNORED, f"not a readable email ({type(exc).__name__})")
    unsubscribing = find_unsubscribe(recipients(message))
    if unsubscribing is not None:
        return _unsubscribe_request(unsubscribing)
    reason = auto_reply_reason(message)
    if reason:
        return Reading(Reply.Status.IGNORED, reason)
    target = find_target(recipients(message))
    if target is None:
        return Reading(Reply.Status.IGNORED, "not sent to a valid reply address (no token, or a forged or foreign one)")
    subscriber = Subscriber.objects.select_related("course").filter(pk=target.subscriber_id).first()
    if subscriber is None:
        return Reading(Reply.Status.IGNORED, "the reader of this reply address no longer exists")
    delivery = Delivery.objects.filter(pk=target.delivery_id, subscriber=subscriber).first()
    try:
        text = new_text(message)
    except Exception as exc:  # a body no decoder understands
        text = ""
        logger.warning("reply %s: could not extract text: %s", reply.pk, exc)
    understanding = understand(text, subscriber.course.words)  # the course's own tracks and their words
    reading = Reading(
        subscriber=subscriber,
        delivery=delivery,
        new_text=text,
        understanding=understanding,
        reason=understanding.problem,
    )
    sender = parseaddr(_header(message, "From"))[1]
    reading.from_reader = same_mailbox(sender, subscriber.email)
    doubt = sender_doubt(message) if reading.from_reader else ""
    if doubt:  # the From may be forged: nothing changes, nobody is written to, a person looks
        reading.from_reader = False
        reading.reason = f"the sender is not trusted ({doubt}): sent to review"
    elif not reading.from_reader:
        reading.reason = f"sent from {sender or 'no address'}, not the reader's address {subscriber.email}"
    elif subscriber.status not in changes.MOVABLE:
        reading.reason = f"the reader is {subscriber.status}"
    elif understanding.clear:
        reading.status = Reply.Status.APPLIED
    return reading


def _unsubscribe_request(subscriber_id: int) -> Reading:
    """Mail to the List-Unsubscribe mailto: whatever it says (mailbox providers send it for the
    reader, often automatically), the reader it names is unsubscribed, with no confirmation."""
    subscriber = Subscriber.objects.filter(pk=subscriber_id).first()
    if subscriber is None:
        return Reading(Reply.Status.IGNORED, "unsubscribe request for a reader who no longer exists")
    if subscriber.status not in changes.MOVABLE:
        return Reading(Reply.Status.IGNORED, f"unsubscribe request: the reader is already {subscriber.status}")
    return Reading(
        Reply.Status.APPLIED,
        subscriber=subscriber,
        understanding=Understanding(command="stop"),
        notes=["List-Unsubscribe mailto"],
        confirm=False,
    )


def process(reply_id: int, now: datetime | None = None) -> str:
    """Read one stored reply and apply it, or send it to review, or ignore it. Idempotent."""
    now = now or timezone.now()
    reply = Reply.objects.filter(pk=reply_id, status=Reply.Status.RECEIVED).first()
    if reply is None:
        return "skipped: already processed or gone"
    reading = read(reply)
    made: list[changes.Change] = []
    with transaction.atomic():
        reply = Reply.objects.select_for_update().get(pk=reply_id)
        if reply.status != Reply.Status.RECEIVED:
            return "skipped: processed meanwhile"
        reply.subscriber, reply.delivery, reply.new_text = reading.subscriber, reading.delivery, reading.new_text
        reply.understood = reading.understanding.as_dict() if reading.understanding else {}
        reply.status, reply.reason, reply.processed_at = reading.status, reading.reason[:300], now
        if reading.status == Reply.Status.APPLIED:
            try:
                with transaction.atomic():
                    why = "unsubscribe by email (List-Unsubscribe mailto)" if not reading.confirm else _why(reply)
                    made = _apply(reading.subscriber, reading.understanding, actor="reader", why=why, now=now)
            except changes.ChangeRefused as refused:
                reply.status, reply.reason = Reply.Status.REVIEW, str(refused)[:300]
            else:
                reply.applied = {"changes": [c.as_dict() for c in made], "by": "reader"}
                reply.reason = "" if made else "nothing to change: the reader was already there"
        reply.save()
        if reading.confirm:  # every reply but a List-Unsubscribe mailto is on the reader's thread
            conversations.record_reply(reply, made=made, from_reader=reading.from_reader, now=now)
        if made and reading.confirm:
            transaction.on_commit(partial(queue_confirmation, reply.pk), robust=True)
    logger.info("reply %s: %s %s", reply.pk, reply.status, reply.reason)
    return f"{reply.status}: {reply.reason or ', '.join(f'{c.what} {c.before} → {c.after}' for c in made)}"


def _why(reply: Reply) -> str:
    delivery = reply.delivery
    return f"reply {reply.pk} to {delivery.lesson.slug if delivery is not None else 'a course email'}"


def _apply(subscriber: Subscriber, understanding: Understanding, *, actor: str, why: str, now: datetime) -> list:
    made = [
        changes.change_stage(subscriber, understanding.stage, actor=actor, why=why, now=now)
        if understanding.stage
        else None,
        changes.change_destination(subscriber, understanding.destination, actor=actor, why=why, now=now)
        if understanding.destination
        else None,
        changes.change_license_plan(subscriber, understanding.license_plan, actor=actor, why=why, now=now)
        if understanding.license_plan
        else None,
        changes.change_pay_need(subscriber, understanding.pay_need, actor=actor, why=why, now=now)
        if understanding.pay_need
        else None,
        changes.COMMANDS[understanding.command](subscriber, actor=actor, why=why, now=now)
        if understanding.command
        else None,
    ]
    return [change for change in made if change is not None]


# --- Confirmation ------------------------------------------------------------------------------


def queue_confirmation(reply_id: int) -> None:
    queueing.queue(queueing.SEND_REPLY_CONFIRMATION, reply_id)


def send_confirmation(reply_id: int, now: datetime | None = None) -> str:
    """Tell the reader what their reply changed, with the undo link, once.

    The email is rebuilt from the stored reply (`applied["changes"]`). The send is claimed on the
    row first (`applied["confirmation"]`), so a second run finds it sent, or being sent, and sends
    nothing; a failed send releases the claim and raises, for the task to retry or give up."""
    now = now or timezone.now()
    with transaction.atomic():
        reply = (
            Reply.objects.select_for_update(of=("self",))
            .select_related("subscriber__course", "delivery")
            .filter(pk=reply_id)
            .first()
        )
        if reply is None or reply.subscriber is None or not reply.applied.get("changes"):
            return "skipped: nothing to confirm"
        if reply.undone_at is not None:
            return "skipped: undone already"
        claim = reply.applied.get("confirmation", {})
        if "sent_at" in claim:
            return "skipped: sent already"
        if "claimed_at" in claim and datetime.fromisoformat(claim["claimed_at"]) > now - CONFIRMATION_CLAIM:
            return "skipped: being sent"
        claimed_at = now.isoformat()
        reply.applied = {**reply.applied, "confirmation": {"claimed_at": claimed_at}}
        reply.save(update_fields=["applied"])
    made = [changes.Change(**item) for item in reply.applied["changes"]]
    message_id = f"<confirmation-{reply.pk}.{reply.subscriber.course.slug}@{emails.sender_domain()}>"
    answer_days = settings.REPLY_ANSWER_DAYS if conversations.confirmation_says_a_person_answers(reply) else None
    try:
        emails.reply_confirmation(reply, made, undo_url(reply), answer_days=answer_days, message_id=message_id).send()
    except Exception:
        _settle_claim(reply_id, claimed_at, None)
        raise
    _settle_claim(reply_id, claimed_at, {"sent_at": now.isoformat()})
    conversations.record_confirmation(reply, message_id, now)
    return "sent"


def _settle_claim(reply_id: int, claimed_at: str, note: dict | None) -> None:
    """Record the send (note) or release the claim (None), unless a review decision replaced it meanwhile."""
    with transaction.atomic():
        reply = Reply.objects.select_for_update().get(pk=reply_id)
        applied = dict(reply.applied)
        if applied.get("confirmation", {}).get("claimed_at") != claimed_at:
            return
        if note is None:
            del applied["confirmation"]
        else:
            applied["confirmation"] = note
        reply.applied = applied
        reply.save(update_fields=["applied"])


# --- Undo and review --------------------------------------------------------------------------


def undo_token(reply: Reply) -> str:
    return signing.dumps(reply.pk, salt=UNDO_SALT)


def reply_for_undo_token(token: str) -> Reply | None:
    try:
        pk = signing.loads(token, salt=UNDO_SALT)
    except signing.BadSignature:
        return None
    return Reply.objects.select_related("subscriber").filter(pk=pk).first()


def undo_url(reply: Reply) -> str:
    return f"{settings.SITE_URL}/reply/undo/{undo_token(reply)}/"


def undo(reply: Reply, *, actor: str = "reader", now: datetime | None = None) -> list[changes.Change]:
    """Put the reader back as they were before this reply. Idempotent: a second undo changes nothing,
    and a part a later change has already replaced is left alone."""
    now = now or timezone.now()
    reverted: list[changes.Change] = []
    with transaction.atomic():
        reply = Reply.objects.select_for_update(of=("self",)).select_related("subscriber").get(pk=reply.pk)
        if reply.undone_at is not None or reply.subscriber is None or reply.status != Reply.Status.APPLIED:
            return []
        for item in reversed(reply.applied.get("changes", [])):
            change = changes.Change(**item)
            done = changes.revert(reply.subscriber, change, actor=actor, why=f"undo of reply {reply.pk}", now=now)
            if done is not None:
                reverted.append(done)
        reply.undone_at = now
        reply.save(update_fields=["undone_at"])
    return reverted


def resolve(
    reply: Reply,
    *,
    actor: str,
    stage: str | None = None,
    destination: str | None = None,
    command: str | None = None,
    now: datetime | None = None,
) -> list[changes.Change]:
    """An admin's decision on a reply in review: apply what they chose (audited), then confirm to the reader."""
    now = now or timezone.now()
    chosen = Understanding(stage=stage, destination=destination, command=command)
    with transaction.atomic():
        reply = Reply.objects.select_for_update(of=("self",)).select_related("subscriber").get(pk=reply.pk)
        if reply.subscriber is None:
            raise changes.ChangeRefused("this reply has no reader (no valid reply address)")
        made = _apply(reply.subscriber, chosen, actor=actor, why=f"reply {reply.pk}, resolved in review", now=now)
        audit.record(
            reply.subscriber, audit.What.REPLY_RESOLVED, before={"reason": reply.reason},
            after={"applied": chosen.summary()}, why=f"reply {reply.pk}", actor=actor, at=now,
        )  # fmt: skip
        reply.status, reply.processed_at = Reply.Status.APPLIED, now
        reply.applied = {"changes": [c.as_dict() for c in made], "by": actor}
        reply.save(update_fields=["status", "processed_at", "applied"])
        if made:
            transaction.on_commit(partial(queue_confirmation, reply.pk), robust=True)
    return made


def dismiss(reply: Reply, *, actor: str, now: datetime | None = None) -> None:
    now = now or timezone.now()
    with transaction.atomic():
        reply = Reply.objects.select_for_update().get(pk=reply.pk)
        if reply.status == Reply.Status.DISMISSED:
            return
        audit.record(
            reply.subscriber, audit.What.REPLY_DISMISSED, before={"status": reply.status, "reason": reply.reason},
            why=f"reply {reply.pk}", actor=actor, at=now,
        )  # fmt: skip
        reply.status, reply.processed_at = Reply.Status.DISMISSED, now
        reply.save(update_fields=["status", "processed_at"])
