"""A reader's conversation (flow 9): every reply they send to any course email, and every email we
send back on it, kept as one thread per reader.

1. `record_reply()` — `inbound.process()` calls it in its transaction once a reply is read: the
   reply becomes a message on the thread; the thread is marked unread when the reply says anything
   beyond a plain answer, and as needing an answer when it asks something or went to review.
   Such a reply, if it changed nothing, gets one short acknowledgement ("a person reads every
   reply; you'll hear back within REPLY_ANSWER_DAYS days"): at most one a day per reader, never for
   an automatic message (those never reach a thread), never to someone other than the reader.
2. `answer()` — a person's answer from the inbox (ConversationAdmin): kept on the thread and sent
   after commit as an email threaded under the reader's last reply (In-Reply-To, References), from
   the course address with the reader's signed Reply-To, so their next reply lands here too.
3. `send_message()` — the retried task sending one acknowledgement or answer, claimed on its row
   (`pending` → `sending` → `sent`), so it goes out once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from subscribers import queueing
from subscribers.models import Conversation, ConversationMessage, Reply, Subscriber
from subscribers.readers import audit
from subscribers.readers.changes import Change
from subscribers.sending import emails

logger = logging.getLogger(__name__)

Kind = ConversationMessage.Kind
Direction = ConversationMessage.Direction
ACKNOWLEDGE_EVERY = timedelta(days=1)
# A send claimed this long ago by a worker that died may be claimed again.
SEND_CLAIM = timedelta(minutes=10)
# Readers we never write to, whatever they sent: their address bounced or complained.
NOT_WRITTEN_TO = {Subscriber.Status.SUPPRESSED}


def thread_of(subscriber: Subscriber) -> Conversation:
    conversation, _ = Conversation.objects.get_or_create(subscriber=subscriber)
    return conversation


def _locked_thread(subscriber: Subscriber, now: datetime) -> Conversation:
    try:
        with transaction.atomic():
            Conversation.objects.get_or_create(subscriber=subscriber, defaults={"last_message_at": now})
    except IntegrityError:  # created meanwhile by a reply processed at the same moment
        pass
    return Conversation.objects.select_for_update().get(subscriber=subscriber)


# --- Replies onto the thread -----------------------------------------------------------------


def record_reply(reply: Reply, *, made: list[Change], from_reader: bool, now: datetime) -> ConversationMessage | None:
    """Keep a processed reply on its reader's thread (inside process()'s transaction) and, when it is
    owed one, queue its acknowledgement after commit. Idempotent per reply."""
    subscriber = reply.subscriber
    if subscriber is None:
        return None
    understood = reply.understood or {}
    words = bool(understood.get("remainder")) or reply.status == Reply.Status.REVIEW
    question = bool(understood.get("question"))
    only_courtesy = understood.get("problem", "").startswith("only a greeting")
    needs_answer = (question or reply.status == Reply.Status.REVIEW) and not only_courtesy
    conversation = _locked_thread(subscriber, now)
    message, created = ConversationMessage.objects.get_or_create(
        reply=reply,
        kind=Kind.REPLY,
        defaults={
            "conversation": conversation, "direction": Direction.FROM_READER, "delivery_id": reply.delivery_id,
            "body": reply.new_text, "author": "reader" if from_reader else reply.sender[:100],
            "message_id": reply.message_id, "subject": reply.subject, "at": reply.received_at,
        },
    )  # fmt: skip
    if not created:
        return message
    conversation.last_message_at = max(conversation.last_message_at, reply.received_at)
    conversation.last_from_reader_at = reply.received_at
    conversation.unread = conversation.unread or words or needs_answer
    conversation.needs_answer = conversation.needs_answer or needs_answer
    fields = ["last_message_at", "last_from_reader_at", "unread", "needs_answer"]
    writable = from_reader and subscriber.status not in NOT_WRITTEN_TO
    if needs_answer and writable and _may_acknowledge(conversation, now):
        conversation.acknowledged_at = now
        fields.append("acknowledged_at")
        if not made:  # a reply that changed something is confirmed, and the confirmation says a person reads it
            ack = ConversationMessage.objects.create(
                conversation=conversation, direction=Direction.FROM_US, kind=Kind.ACKNOWLEDGEMENT, reply=reply,
                delivery_id=reply.delivery_id, author="system", in_reply_to=reply.message_id,
                subject=emails.re_subject(reply.subject), at=now, state=ConversationMessage.State.PENDING,
            )  # fmt: skip
            transaction.on_commit(partial(queue_send, ack.pk), robust=True)
    conversation.save(update_fields=fields)
    return message


def _may_acknowledge(conversation: Conversation, now: datetime) -> bool:
    return conversation.acknowledged_at is None or conversation.acknowledged_at <= now - ACKNOWLEDGE_EVERY


def confirmation_says_a_person_answers(reply: Reply) -> bool:
    """Whether a reply's confirmation also carries the acknowledgement (it held a question)."""
    return bool((reply.understood or {}).get("question"))


def record_confirmation(reply: Reply, message_id: str, now: datetime) -> None:
    """The confirmation of a reply, once sent, is on the thread too."""
    if reply.subscriber is None:
        return
    with transaction.atomic():
        conversation = _locked_thread(reply.subscriber, now)
        _, created = ConversationMessage.objects.get_or_create(
            reply=reply,
            kind=Kind.CONFIRMATION,
            defaults={
                "conversation": conversation, "direction": Direction.FROM_US, "delivery_id": reply.delivery_id,
                "author": "system", "message_id": message_id, "in_reply_to": reply.message_id,
                "subject": emails.re_subject(reply.subject), "at": now, "sent_at": now,
                "state": ConversationMessage.State.SENT,
            },
        )  # fmt: skip
        if created:
            conversation.last_message_at = max(conversation.last_message_at, now)
            conversation.save(update_fields=["last_message_at"])


# --- Answers from the inbox --------------------------------------------------------------------


def answer(conversation: Conversation, text: str, *, actor: str, now: datetime | None = None) -> ConversationMessage:
    """A person's answer on a thread: kept, audited, the thread marked answered and read, and the
    email queued after commit."""
    now = now or timezone.now()
    text = text.strip()
    if not text:
        raise ValueError("write an answer first")
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().select_related("subscriber").get(pk=conversation.pk)
        last = conversation.messages.filter(direction=Direction.FROM_READER).order_by("-at", "-id").first()
        message = ConversationMessage.objects.create(
            conversation=conversation, direction=Direction.FROM_US, kind=Kind.ANSWER, body=text, author=actor[:100],
            delivery_id=last.delivery_id if last else None, in_reply_to=last.message_id if last else "",
            subject=emails.re_subject(last.subject if last else "", conversation.subscriber.course.title),
            at=now, state=ConversationMessage.State.PENDING,
        )  # fmt: skip
        conversation.needs_answer, conversation.unread, conversation.last_message_at = False, False, now
        conversation.save(update_fields=["needs_answer", "unread", "last_message_at"])
        audit.record(
            conversation.subscriber, audit.What.REPLY_ANSWERED, after={"message": message.pk},
            why=f"answer to {f'reply {last.reply_id}' if last and last.reply_id else 'the reader'}",
            actor=actor, at=now,
        )  # fmt: skip
        transaction.on_commit(partial(queue_send, message.pk), robust=True)
    return message


def mark_read(conversation: Conversation) -> None:
    Conversation.objects.filter(pk=conversation.pk, unread=True).update(unread=False)


def set_needs_answer(conversation: Conversation, needs_answer: bool) -> None:
    Conversation.objects.filter(pk=conversation.pk).update(needs_answer=needs_answer)


# --- Sending ------------------------------------------------------------------------------------


def queue_send(message_id: int) -> None:
    queueing.queue(queueing.SEND_THREAD_MESSAGE, message_id)


def queue_stale(now: datetime | None = None) -> int:
    """Queue again thread emails still `pending` a while after they were written (their task was lost)."""
    now = now or timezone.now()
    State = ConversationMessage.State
    stale = Q(state=State.PENDING, at__lt=now - timedelta(minutes=2)) | Q(
        state=State.SENDING, claimed_at__lt=now - SEND_CLAIM
    )
    ids = list(ConversationMessage.objects.filter(stale).values_list("pk", flat=True)[:500])
    for pk in ids:
        queue_send(pk)
    return len(ids)


def send_message(message_pk: int, now: datetime | None = None) -> str:
    """Send one acknowledgement or answer, once: claimed on its row; a failed send is released and raises."""
    now = now or timezone.now()
    State = ConversationMessage.State
    claimable = Q(state=State.PENDING) | Q(state=State.SENDING, claimed_at__lt=now - SEND_CLAIM)
    claimed = ConversationMessage.objects.filter(claimable, pk=message_pk).update(state=State.SENDING, claimed_at=now)
    if not claimed:
        return "skipped: sent already, being sent, or gone"
    message = ConversationMessage.objects.select_related(
        "conversation__subscriber__course", "reply__delivery", "reply__subscriber__course"
    ).get(pk=message_pk)
    subscriber = message.conversation.subscriber
    message_id = emails.thread_message_id(message, subscriber.course.slug)
    try:
        email = _email_for(message, subscriber, message_id)
        email.send()
    except Exception:
        ConversationMessage.objects.filter(pk=message_pk, state=State.SENDING).update(state=State.PENDING)
        raise
    ConversationMessage.objects.filter(pk=message_pk).update(state=State.SENT, sent_at=now, message_id=message_id)
    return "sent"


def _email_for(message: ConversationMessage, subscriber: Subscriber, message_id: str):
    if message.kind == Kind.ACKNOWLEDGEMENT:
        asks = confirmation_says_a_person_answers(message.reply)  # a question is not "could not tell"
        return emails.reply_acknowledgement(
            message.reply,
            in_review=message.reply.status == Reply.Status.REVIEW and not asks,
            answer_days=settings.REPLY_ANSWER_DAYS, message_id=message_id,
        )  # fmt: skip
    return emails.conversation_answer(
        subscriber, message.body, subject=message.subject, delivery_id=message.delivery_id,
        in_reply_to=message.in_reply_to, references=_references(message), message_id=message_id,
    )  # fmt: skip


def _references(message: ConversationMessage) -> list[str]:
    """The thread's Message-IDs so far, oldest first: each course email answered, each reply and answer
    (our automatic notes are side branches, not part of the chain)."""
    earlier = (
        message.conversation.messages.filter(at__lte=message.at, kind__in=(Kind.REPLY, Kind.ANSWER))
        .exclude(pk=message.pk)
        .select_related("delivery")
        .order_by("at", "id")
    )
    refs: list[str] = []
    for item in earlier:
        if item.direction == Direction.FROM_READER and item.delivery_id and item.delivery.message_id:
            refs.append(item.delivery.message_id)
        if item.message_id:
            refs.append(item.message_id)
    return list(dict.fromkeys(refs))


def mark_failed(message_pk: int) -> None:
    """The send was given up on: the thread shows it, and nothing queues it again."""
    State = ConversationMessage.State
    ConversationMessage.objects.filter(pk=message_pk).exclude(state=State.SENT).update(state=State.FAILED)


# --- Reading a thread (the inbox and the reader's timeline) ------------------------------------


@dataclass
class Entry:
    message: ConversationMessage
    changed: str = ""  # what the reply changed, in the reader's words
    undo_url: str = ""
    undone: bool = False
    status: str = ""
    reason: str = ""


def thread(subscriber: Subscriber, *, undo_url: Callable[[Reply], str], limit: int = 200) -> list[Entry]:
    """The reader's thread, oldest first, each reply with what it changed and its undo link
    (`undo_url`: subscribers.replies.inbound.undo_url, which imports this module)."""
    conversation = Conversation.objects.filter(subscriber=subscriber).first()
    if conversation is None:
        return []
    messages = list(conversation.messages.select_related("reply", "delivery__lesson").order_by("-at", "-id")[:limit])[
        ::-1
    ]
    entries = []
    for message in messages:
        entry = Entry(message)
        reply = message.reply
        if message.kind == Kind.REPLY and reply is not None:
            made = [Change(**item) for item in (reply.applied or {}).get("changes", [])]
            entry.changed = "; ".join(emails.describe_change(change) for change in made)
            entry.undone = reply.undone_at is not None
            entry.undo_url = undo_url(reply) if made and not entry.undone else ""
            entry.status, entry.reason = reply.status, reply.reason
        entries.append(entry)
    return entries
