"""Every email the product sends, one function per kind: subject, text, HTML and headers."""

from __future__ import annotations

import re
from email.utils import parseaddr
from functools import lru_cache
from html import escape

import css_inline
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from course.vocabulary import Destination, LicensePlan, PayNeed, Profession, Vocabulary, builtin_vocabulary
from lessons import sections
from lessons.rendering import Block, render_lesson
from subscribers.models import ConversationMessage, Delivery, Reply, Subscriber
from subscribers.plan import summary
from subscribers.readers.addresses import reply_address, unsubscribe_address
from subscribers.readers.course_time import clock_of
from subscribers.readers.links import ADDRESS_LINK_MAX_AGE, max_age, plan_url, preferences_url, unsubscribe_url

PLAN_PLACEHOLDER = re.compile(r"\{\{\s*your_plan\s*\}\}")

_INLINER = css_inline.CSSInliner(keep_at_rules=True, keep_style_tags=False)


def sender_domain() -> str:
    return _domain_of(settings.DEFAULT_FROM_EMAIL)


@lru_cache(maxsize=8)
def _domain_of(address: str) -> str:
    return parseaddr(address)[1].rpartition("@")[2] or "localhost"


def delivery_message_id(delivery: Delivery) -> str:
    """Stable per delivery: a resend after a crash carries the same id, so clients fold it."""
    return f"<delivery-{delivery.pk}.{delivery.subscriber.course.slug}@{sender_domain()}>"


def placeholder_values(subscriber: Subscriber, now, *, your_plan: Block | None = None) -> dict[str, str | Block]:
    """Each placeholder's value for this reader. `{{ your_plan }}` is their whole plan when given
    (the welcome, `read_ahead`), otherwise a link to today's plan (the archive's copy)."""
    return {
        "your_plan": your_plan or summary.plan_link_block(plan_url(subscriber, now)),
        "first_name": subscriber.first_name or "there",
        "destination_name": subscriber.course.words.destination_label(subscriber.destination).lower()
        if subscriber.destination != Destination.UNDECIDED
        else "the destination you choose",
        "stage_name": subscriber.course.words.stage_label(subscriber.stage).lower(),
        "course_month": str(clock_of(subscriber).month(now)),
        "preferences_url": preferences_url(subscriber, now),
        "profession_name": PROFESSION_NAMES.get(subscriber.profession, "clinician"),
        "specialty": subscriber.specialty or "your specialty",
        "license_plan": LicensePlan(subscriber.license_plan).label.lower(),
        "pay_need": PayNeed(subscriber.pay_need).label.lower(),
    }


# How a sentence names the reader's profession (`{{ profession_name }}`).
PROFESSION_NAMES = {
    Profession.PHYSICIAN: "physician",
    Profession.NP: "nurse practitioner",
    Profession.PA: "physician assistant",
    Profession.RN: "nurse",
    Profession.PHARMACIST: "pharmacist",
    Profession.OTHER: "clinician",
}


def reader_profile(subscriber: Subscriber) -> dict[str, str]:
    """The answers a lesson's `::: for` sections are chosen by (lessons.sections)."""
    return {
        "profession": subscriber.profession,
        "license_plan": subscriber.license_plan,
        "pay_need": subscriber.pay_need,
        "destination": subscriber.destination,
    }


def lesson_email(delivery: Delivery, now) -> EmailMultiAlternatives:
    """A course email (welcome, lesson, check-in, milestone, completion) for one delivery."""
    subscriber, _version = delivery.subscriber, delivery.version
    rendered = rendered_version(delivery).personalise(_values_for(delivery, now))
    message = EmailMultiAlternatives(
        subject=rendered.subject,
        body=rendered.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[subscriber.email],
        # Every course email is a conversation: the signed address names the reader and this delivery.
        reply_to=[reply_address(subscriber.pk, delivery.pk)],
        headers=list_headers(delivery),
    )
    message.attach_alternative(rendered.html, "text/html")
    # anymail sends it to the ESP, which returns it in tracking events (subscribers.sending.tracking).
    message.metadata = {"delivery": str(delivery.pk)}
    return message


# ESP backends that substitute per-recipient `merge_data` into a non-template send, so one API
# call carries many personalised copies (anymail's docs: Mailgun's recipient-variables do;
# Postmark and Amazon SES take merge_data only with a template stored at the ESP).
BATCH_BACKENDS = {"anymail.backends.mailgun.EmailBackend": ("%recipient.{name}%", "%recipient.{name}_html%")}


def esp_name() -> str:
    return settings.ANYMAIL_ESP or "outbox"


def batch_capable(connection) -> bool:
    return settings.ESP_BATCH_SENDING and _backend_path(connection) in BATCH_BACKENDS


def _backend_path(connection) -> str:
    return f"{type(connection).__module__}.{type(connection).__name__}"


def lesson_batch(deliveries: list[Delivery], now, connection=None) -> EmailMultiAlternatives:
    """One ESP call for many readers of the same lesson version: the version rendered once with
    the ESP's merge fields where the placeholders are, each reader's values as merge data, and
    each reader's own Message-ID, List-Unsubscribe and signed Reply-To as merge headers."""
    first = deliveries[0]
    text_field, html_field = BATCH_BACKENDS.get(_backend_path(connection), next(iter(BATCH_BACKENDS.values())))
    rendered = rendered_version(first).merge_fields(text_field, html_field)
    course = first.subscriber.course
    message = EmailMultiAlternatives(
        subject=rendered.subject,
        body=rendered.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[delivery.subscriber.email for delivery in deliveries],
        headers={
            "List-Id": f"{course.title} <{course.slug}.{sender_domain()}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
        connection=connection,
    )
    message.attach_alternative(rendered.html, "text/html")
    message.merge_data, message.merge_headers, message.merge_metadata = {}, {}, {}
    for delivery in deliveries:
        subscriber = delivery.subscriber
        values = _values_for(delivery, now)
        message.merge_data[subscriber.email] = {k: str(v) for k, v in values.items()} | {
            f"{k}_html": v.html if isinstance(v, Block) else escape(v) for k, v in values.items()
        }
        headers = list_headers(delivery)
        del headers["List-Id"], headers["List-Unsubscribe-Post"]
        headers["Reply-To"] = reply_address(subscriber.pk, delivery.pk)
        message.merge_headers[subscriber.email] = headers
        message.merge_metadata[subscriber.email] = {"delivery": str(delivery.pk)}
    return message


def read_ahead(delivery: Delivery, now) -> None:
    """Read what building this delivery's message needs beyond its rows (the welcome's plan), so
    the message can then be built where nothing is read from the database (drip's sending thread)."""
    if PLAN_PLACEHOLDER.search(delivery.version.body):
        delivery.your_plan = summary.plan_block(delivery.subscriber, plan_url(delivery.subscriber, now), now)


def _values_for(delivery: Delivery, now) -> dict[str, str | Block]:
    if not hasattr(delivery, "your_plan"):
        read_ahead(delivery, now)
    return placeholder_values(delivery.subscriber, now, your_plan=getattr(delivery, "your_plan", None))


def rendered_version(delivery: Delivery, profile: dict[str, str] | None = None):
    """The delivery's lesson version rendered for the reader's variant (which `::: for` sections
    they see; cached per version and variant; placeholders left as tokens). `profile` defaults
    to the reader's answers now."""
    version = delivery.version
    profile = reader_profile(delivery.subscriber) if profile is None else profile
    return render_lesson(
        version.pk,
        version.subject,
        version.body,
        delivery.subscriber.course.title,
        postal_address=settings.SENDER_POSTAL_ADDRESS,
        variant=sections.variant_for(version.body, profile),
    )


def list_headers(delivery: Delivery) -> dict[str, str]:
    """The headers a bulk sender owes the reader's mailbox provider: our Message-ID, List-Id, and
    one-click unsubscribe (RFC 2369 List-Unsubscribe with a signed HTTPS URL and a mailto, and
    RFC 8058 List-Unsubscribe-Post so the provider's button unsubscribes with one POST)."""
    subscriber = delivery.subscriber
    course = subscriber.course
    return {
        "Message-ID": delivery.message_id or delivery_message_id(delivery),
        "List-Id": f"{course.title} <{course.slug}.{sender_domain()}>",
        "List-Unsubscribe": f"<{unsubscribe_url(subscriber)}>, "
        f"<mailto:{unsubscribe_address(subscriber.pk)}?subject=unsubscribe>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


# --- Conversations: every email below is part of the reader's thread (subscribers.replies.conversations) ---


def thread_message_id(message: ConversationMessage, course_slug: str) -> str:
    """Stable per thread message: a retried send carries the same id, so clients fold it."""
    return f"<thread-{message.pk}.{course_slug}@{sender_domain()}>"


def _in_course_layout(subscriber: Subscriber, subject: str, fragment: str) -> str:
    """A short note in the same layout as the course's lessons (brand line, footer, inlined CSS)."""
    page = render_to_string(
        "lessons/email.html",
        {
            "subject": subject,
            "body": fragment,
            "course_title": subscriber.course.title,
            "preferences_url": preferences_url(subscriber),
            "postal_address": settings.SENDER_POSTAL_ADDRESS,
        },
    )
    return _INLINER.inline(page)


def _text_footer(subscriber: Subscriber) -> str:
    url = preferences_url(subscriber)
    return (
        f"\n--\nYou get this email because you enrolled in {subscriber.course.title}.\n"
        f"Your plan: {url}plan/\nPause, change your track, time or email: {url}\n"
    )


def _paragraphs(text: str) -> str:
    return "".join(f"<p>{escape(block).replace(chr(10), '<br>')}</p>" for block in text.split("\n\n") if block.strip())


def _thread_email(
    subscriber: Subscriber,
    *,
    subject: str,
    text: str,
    html_fragment: str,
    delivery_id: int | None,
    in_reply_to: str,
    references: list[str],
    message_id: str = "",
    automatic: bool = True,
) -> EmailMultiAlternatives:
    """One email on the reader's thread: from the course address, threaded under `in_reply_to`, with
    the reader's signed Reply-To, so their next reply lands in the same thread."""
    subject = " ".join(subject.split())[:200]
    headers = {"Auto-Submitted": "auto-replied"} if automatic else {}
    if message_id:
        headers["Message-ID"] = message_id
    # RFC 5322: the thread's ids so far, the message answered last.
    chain = [ref for ref in dict.fromkeys([*references, in_reply_to]) if ref.startswith("<") and ref != in_reply_to]
    chain += [in_reply_to] if in_reply_to.startswith("<") else []
    if in_reply_to.startswith("<"):
        headers["In-Reply-To"] = in_reply_to
    if chain:
        headers["References"] = " ".join(chain[-10:])
    message = EmailMultiAlternatives(
        subject=subject,
        body=text + _text_footer(subscriber),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[subscriber.email],
        reply_to=[reply_address(subscriber.pk, delivery_id or 0)],
        headers=headers,
    )
    message.attach_alternative(_in_course_layout(subscriber, subject, html_fragment), "text/html")
    return message


def re_subject(subject: str, fallback: str = "your reply") -> str:
    subject = " ".join((subject or "").split())
    return subject if subject.lower().startswith("re:") else f"Re: {subject or fallback}"


def reply_confirmation(
    reply: Reply, changes: list, undo_url: str, *, answer_days: int | None = None, message_id: str = ""
) -> EmailMultiAlternatives:
    """ "We read your reply as: stage 4, interviewing. Not right? Undo" — threaded under the reader's reply.
    `answer_days`: the reply also held a question, and a person answers it within that many days."""
    subscriber = reply.subscriber
    read_as = "; ".join(describe_change(change, subscriber.course.words) for change in changes)
    if any(change.what == "status" and change.after == "paused" for change in changes):
        then = 'The course is paused. Reply "resume" to any course email, or use your preferences page, to pick it up.'
    elif any(change.what == "status" and change.after == "unsubscribed" for change in changes):
        then = "You will get no more course emails."
    else:
        then = "Your next email follows this."
    person = (
        f"A person reads every reply: you'll hear back about the rest of your message within {_days(answer_days)}."
        if answer_days
        else ""
    )
    first = f"Hi {subscriber.first_name or 'there'},"
    text = (
        f"{first}\n\nWe read your reply as: {read_as}.\n{then}\n\n"
        + (f"{person}\n\n" if person else "")
        + f"Not right? Undo: {undo_url}\n(or reply to this email with the right answer)\n"
    )
    html = (
        f"<p>{escape(first)}</p>"
        f"<p>We read your reply as: <strong>{escape(read_as)}</strong>.<br>{escape(then)}</p>"
        + (f"<p>{escape(person)}</p>" if person else "")
        + f'<p>Not right? <a href="{escape(undo_url)}">Undo this change</a> (or reply with the right answer).</p>'
    )
    return _thread_email(
        subscriber, subject=re_subject(reply.subject, "your check-in"), text=text, html_fragment=html,
        delivery_id=reply.delivery_id, in_reply_to=reply.message_id, references=_delivery_ref(reply),
        message_id=message_id,
    )  # fmt: skip


def _days(days: int) -> str:
    return "a day" if days == 1 else f"{days} days"


def _delivery_ref(reply: Reply) -> list[str]:
    delivery = reply.delivery
    return [delivery.message_id] if delivery is not None and delivery.message_id else []


def reply_acknowledgement(reply: Reply, *, in_review: bool, answer_days: int, message_id: str = ""):
    """The one short note a reply gets when it changed nothing by itself: it went to review, or it asks
    something. A person reads it and answers within `answer_days` (REPLY_ANSWER_DAYS)."""
    subscriber = reply.subscriber
    first = f"Hi {subscriber.first_name or 'there'},"
    if in_review:
        said = (
            "Thanks for your reply. We could not tell for certain what to change from it, so nothing about "
            "your course has changed yet."
        )
    else:
        said = "Thanks for your message."
    person = f"A person reads every reply: you'll hear back within {_days(answer_days)}."
    text = f"{first}\n\n{said}\n{person}\n"
    html = f"<p>{escape(first)}</p><p>{escape(said)}<br>{escape(person)}</p>"
    return _thread_email(
        subscriber, subject=re_subject(reply.subject), text=text, html_fragment=html,
        delivery_id=reply.delivery_id, in_reply_to=reply.message_id, references=_delivery_ref(reply),
        message_id=message_id,
    )  # fmt: skip


def conversation_answer(
    subscriber: Subscriber,
    body: str,
    *,
    subject: str,
    delivery_id: int | None,
    in_reply_to: str,
    references: list[str],
    message_id: str,
) -> EmailMultiAlternatives:
    """A person's answer from the conversation inbox, threaded under the reader's last reply."""
    text = body.strip() + "\n"
    return _thread_email(
        subscriber, subject=re_subject(subject), text=text, html_fragment=_paragraphs(body.strip()),
        delivery_id=delivery_id, in_reply_to=in_reply_to, references=references, message_id=message_id,
        automatic=False,
    )  # fmt: skip


def describe_change(change, words: Vocabulary | None = None) -> str:
    """A change in the reader's words; `words` is their course's vocabulary (built-in by default)."""
    words = words or builtin_vocabulary()
    if change.what == "stage":
        stage = words.stage(change.after)
        return f"stage {stage.number}, {stage.label.lower()}"
    if change.what == "destination":
        return f"destination {words.destination_label(change.after).lower()}"
    if change.what == "license_plan":
        return f"license: {LicensePlan(change.after).label.lower()}"
    if change.what == "pay_need":
        return f"pay: {PayNeed(change.after).label.lower()}"
    return {"paused": "pause the course", "active": "resume the course", "unsubscribed": "stop the course"}.get(
        change.after, f"status {change.after}"
    )


def already_enrolled(subscriber: Subscriber) -> EmailMultiAlternatives:
    """Someone started signing up at /start/ with an address already in the course: the address
    gets its preferences link, and the page answers as it does for anyone (checkout.tell_if_enrolled)."""
    course, url = subscriber.course.title, preferences_url(subscriber)
    text = (
        f"Hi {subscriber.first_name or 'there'},\n\n"
        f"Someone, probably you, started signing up for {course} with this address. It is already "
        f"enrolled, so there is no need to pay again (a second payment is refunded).\n\n"
        f"Your course, your track and the time your email arrives are all here:\n{url}\n\n"
        f"Not you? Nothing has changed; you can ignore this email.\n"
    )
    html = (
        f"<p>Hi {escape(subscriber.first_name or 'there')},</p>"
        f"<p>Someone, probably you, started signing up for <strong>{escape(course)}</strong> with this "
        f"address. It is already enrolled, so there is no need to pay again (a second payment is refunded).</p>"
        f'<p><a href="{escape(url)}">Your course, your track and the time your email arrives</a></p>'
        f"<p>Not you? Nothing has changed; you can ignore this email.</p>"
    )
    message = EmailMultiAlternatives(
        subject=f"You are already enrolled in {course}"[:200],
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[subscriber.email],
        headers={"Auto-Submitted": "auto-generated"},
    )
    message.attach_alternative(html, "text/html")
    return message


def course_stopped(subscriber: Subscriber, why: str) -> EmailMultiAlternatives:
    """The course has stopped because its payment was refunded: a short note saying so and why,
    with the support address. Sent once, after the refund is recorded (checkout._stop)."""
    course = subscriber.course.title
    support = settings.SUPPORT_EMAIL
    text = (
        f"Hi {subscriber.first_name or 'there'},\n\n"
        f"Your course {course} has stopped: {why}. You will get no more course emails, and there is "
        f"nothing you need to do.\n\n"
        f"The refund goes back to the card you paid with; banks usually show it within 5 to 10 days.\n"
        f"Questions, or was this a mistake? Write to {support}.\n"
    )
    html = (
        f"<p>Hi {escape(subscriber.first_name or 'there')},</p>"
        f"<p>Your course <strong>{escape(course)}</strong> has stopped: {escape(why)}. You will get no more "
        f"course emails, and there is nothing you need to do.</p>"
        f"<p>The refund goes back to the card you paid with; banks usually show it within 5 to 10 days.</p>"
        f'<p>Questions, or was this a mistake? Write to <a href="mailto:{escape(support)}">{escape(support)}</a>.</p>'
    )
    message = EmailMultiAlternatives(
        subject=f"Your {course} course has stopped"[:200],
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[subscriber.email],
        reply_to=[support],
        headers={"Auto-Submitted": "auto-generated"},
    )
    message.attach_alternative(html, "text/html")
    return message


def _notice(to: str, subject: str, text: str, html: str) -> EmailMultiAlternatives:
    """A one-off note about the reader's links or address (not a course email: no List-Unsubscribe)."""
    message = EmailMultiAlternatives(
        subject=subject[:200],
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
        headers={"Auto-Submitted": "auto-generated"},
    )
    message.attach_alternative(html, "text/html")
    return message


def fresh_link(subscriber: Subscriber) -> EmailMultiAlternatives:
    """Asked for on the expired-link page: the reader's preferences and plan, with links that work again."""
    course, url, plan = subscriber.course.title, preferences_url(subscriber), plan_url(subscriber)
    name, days = subscriber.first_name or "there", max_age().days
    text = (
        f"Hi {name},\n\n"
        f"Here is a fresh link to your {course} preferences (pause, track, stage, time, email address, "
        f"and every lesson you have been sent):\n{url}\n\n"
        f"Your plan: {plan}\n\n"
        f"These links work for {days} days; every course email brings new ones.\n\n"
        f"Did not ask for this? Someone typed your address on our site. Nothing has changed; "
        f"you can ignore this email.\n"
    )
    html = (
        f"<p>Hi {escape(name)},</p>"
        f'<p><a href="{escape(url)}">Your {escape(course)} preferences</a>: pause, track, stage, time, email '
        f"address, and every lesson you have been sent.</p>"
        f'<p><a href="{escape(plan)}">Your plan</a></p>'
        f"<p>These links work for {days} days; every course email brings new ones.</p>"
        f"<p>Did not ask for this? Someone typed your address on our site. Nothing has changed; you can ignore "
        f"this email.</p>"
    )
    return _notice(subscriber.email, f"Your link to your {course} preferences", text, html)


def confirm_new_address(subscriber: Subscriber, email: str, url: str) -> EmailMultiAlternatives:
    """To the address a reader asked their course to move to: nothing changes until it is confirmed here.
    It does not name the reader's current address (whoever reads this may not be them)."""
    course = subscriber.course.title
    text = (
        f"Hi,\n\n"
        f"Someone, probably you, asked for the {course} course emails to come to this address ({email}).\n\n"
        f"To confirm, open this link and press the button on the page:\n{url}\n\n"
        f"The link works for {ADDRESS_LINK_MAX_AGE.days} days. Until you confirm, nothing changes.\n"
        f"Not you? Ignore this email; nothing will be sent here.\n"
    )
    html = (
        f"<p>Hi,</p>"
        f"<p>Someone, probably you, asked for the <strong>{escape(course)}</strong> course emails to come to this "
        f"address ({escape(email)}).</p>"
        f'<p><a href="{escape(url)}">Confirm this address</a> (open the link, then press the button on the page).</p>'
        f"<p>The link works for {ADDRESS_LINK_MAX_AGE.days} days. Until you confirm, nothing changes.<br>"
        f"Not you? Ignore this email; nothing will be sent here.</p>"
    )
    return _notice(email, f"Confirm your new address for {course}", text, html)


def address_changed(subscriber: Subscriber, old_email: str) -> EmailMultiAlternatives:
    """To the old address once a new one is confirmed, so a change the reader did not make is seen."""
    course, support, name = subscriber.course.title, settings.SUPPORT_EMAIL, subscriber.first_name or "there"
    text = (
        f"Hi {name},\n\n"
        f"Your {course} course emails now go to {subscriber.email}, confirmed from that address. "
        f"Nothing more will be sent here, and the links in earlier emails no longer open your preferences.\n\n"
        f"Not you? Write to {support} and we will put it right.\n"
    )
    html = (
        f"<p>Hi {escape(name)},</p>"
        f"<p>Your <strong>{escape(course)}</strong> course emails now go to <strong>{escape(subscriber.email)}"
        f"</strong>, confirmed from that address. Nothing more will be sent here, and the links in earlier emails "
        f"no longer open your preferences.</p>"
        f'<p>Not you? Write to <a href="mailto:{escape(support)}">{escape(support)}</a> and we will put it right.</p>'
    )
    return _notice(old_email, f"Your {course} emails now go to a new address", text, html)
