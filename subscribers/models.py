from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from course.models import Course
from course.vocabulary import Destination, LicensePlan, PayNeed, Profession, Stage
from lessons.models import Lesson, LessonVersion


def default_send_hour() -> int:
    return settings.DEFAULT_SEND_HOUR


class Subscriber(models.Model):
    """A reader enrolled in one course, with where they are and when they next get email."""

    class Status(models.TextChoices):
        ACTIVE = "active"
        PAUSED = "paused"
        COMPLETED = "completed"
        UNSUBSCRIBED = "unsubscribed"
        REFUNDED = "refunded"
        SUPPRESSED = "suppressed", "Suppressed (bounce or complaint)"

    course = models.ForeignKey(Course, on_delete=models.PROTECT, related_name="subscribers")
    email = models.EmailField(help_text="Stored lower-case.")
    first_name = models.CharField(max_length=100, blank=True)
    specialty = models.CharField(max_length=200, blank=True)
    # The reader profile (DESIGN.md): what they told us at intake, changeable later.
    profession = models.CharField(max_length=20, choices=Profession.choices, blank=True)
    license_plan = models.CharField(max_length=10, choices=LicensePlan.choices, default=LicensePlan.UNSURE)
    pay_need = models.CharField(max_length=12, choices=PayNeed.choices, default=PayNeed.UNSURE)
    stage_reported_at = models.DateTimeField(
        null=True, blank=True, help_text="When the reader last told us their stage (empty: they follow the calendar)."
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    stage = models.CharField(max_length=20, choices=Stage.choices, default=Stage.DECIDING)
    destination = models.CharField(max_length=30, choices=Destination.choices, default=Destination.UNDECIDED)
    time_zone = models.CharField(max_length=64, default="UTC")
    send_hour = models.PositiveSmallIntegerField(default=default_send_hour, validators=[MaxValueValidator(23)])
    send_weekday = models.PositiveSmallIntegerField(
        default=0, validators=[MaxValueValidator(6)], help_text="0 = Monday; the enrolment weekday by default."
    )
    enrolled_at = models.DateTimeField(default=timezone.now)
    paused_at = models.DateTimeField(null=True, blank=True)
    paused_slots = models.PositiveIntegerField(
        default=0, help_text="Weekly slots spent paused before the current pause (not course time)."
    )
    next_send_at = models.DateTimeField(
        null=True, blank=True, help_text="When the tick next plans an email; empty while one is in flight."
    )
    link_generation = models.PositiveIntegerField(
        default=0, help_text="Links signed with an older number no longer open (subscribers.readers.links)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-enrolled_at"]
        constraints = [
            models.UniqueConstraint(fields=["course", "email"], name="one_enrolment_per_email_per_course"),
        ]
        indexes = [
            # Read by subscribers.sending.drip.tick(): active readers whose next_send_at has come.
            models.Index(fields=["next_send_at", "id"], condition=Q(status="active"), name="subscriber_due_idx"),
            # Read by subscribers.ops.rollup._rebuild_readers(): one index-only pass for status, stage,
            # destination and enrolment day; and by the readers page's filters.
            models.Index(fields=["course", "status", "stage", "destination", "enrolled_at"], name="subscriber_ops_idx"),
            # Read by subscribers.ops.views.readers(): the newest readers first. (Its search by email or name
            # reads two trigram indexes on PostgreSQL, made by migration 0018.)
            models.Index(fields=["-enrolled_at", "-id"], name="subscriber_newest_idx"),
        ]

    def __str__(self) -> str:
        return self.email


class Delivery(models.Model):
    """One email to one subscriber: pending → sending → sent | failed."""

    class State(models.TextChoices):
        PENDING = "pending"
        SENDING = "sending"
        SENT = "sent"
        FAILED = "failed"

    class Outcome(models.TextChoices):
        NONE = "", "—"
        DELIVERED = "delivered"
        SOFT_BOUNCED = "soft-bounced"
        BOUNCED = "bounced"
        COMPLAINED = "complained"
        UNSUBSCRIBED = "unsubscribed"

    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="deliveries")
    lesson = models.ForeignKey(Lesson, on_delete=models.PROTECT, related_name="deliveries")
    version = models.ForeignKey(LessonVersion, on_delete=models.PROTECT, related_name="deliveries")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    due_at = models.DateTimeField()
    reason = models.CharField(max_length=300, blank=True, help_text="Why the planner chose this email.")
    course_week = models.PositiveSmallIntegerField(default=0, help_text="Weeks of course time when planned.")
    course_month = models.PositiveSmallIntegerField(default=1, help_text="Course month when planned.")
    created_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    message_id = models.CharField(max_length=255, blank=True, help_text="Our Message-ID header.")
    provider_message_id = models.CharField(max_length=255, blank=True, db_index=True)
    error = models.TextField(blank=True)
    outcome = models.CharField(max_length=12, choices=Outcome.choices, blank=True, default=Outcome.NONE)
    outcome_at = models.DateTimeField(null=True, blank=True)
    retry_at = models.DateTimeField(
        null=True, blank=True, help_text="A pending retry after a transient ESP error is not sent before this."
    )

    class Meta:
        verbose_name_plural = "deliveries"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["subscriber", "lesson"], name="one_delivery_per_subscriber_lesson"),
        ]
        indexes = [
            # Read by subscribers.sending.drip.recover_stale(): unsent rows whose worker or message was lost.
            models.Index(
                fields=["state", "claimed_at"],
                condition=Q(state__in=["pending", "sending"]),
                name="delivery_unsent_idx",
            ),
            # Read by subscribers.ops.rollup._rebuild_emails(): emails sent per day (index-only).
            models.Index(fields=["sent_at", "lesson"], condition=Q(sent_at__isnull=False), name="delivery_sent_idx"),
            # Read by subscribers.ops.rollup._rebuild_emails(): delivered, bounced and complained per day.
            models.Index(
                fields=["outcome_at", "outcome", "lesson"], condition=~Q(outcome=""), name="delivery_outcome_idx"
            ),
            # Read by subscribers.ops.reports.overview(): the latest failures, bounces and complaints; and by
            # subscribers.ops.rollup._rebuild_emails(): failures counted.
            models.Index(
                fields=["created_at", "lesson"],
                condition=Q(state="failed") | Q(outcome__in=["bounced", "complained"]),
                name="delivery_problem_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.lesson.slug} → {self.subscriber.email} ({self.state})"


class Reply(models.Model):
    """One inbound email: the raw message kept, what was understood and applied, or why not."""

    class Status(models.TextChoices):
        RECEIVED = "received"
        APPLIED = "applied"
        REVIEW = "review", "Needs review"
        IGNORED = "ignored"
        DISMISSED = "dismissed"

    subscriber = models.ForeignKey(Subscriber, null=True, blank=True, on_delete=models.CASCADE, related_name="replies")
    message_id = models.CharField(max_length=998, unique=True)
    sender = models.CharField(max_length=320, blank=True)
    recipient = models.CharField(max_length=320, blank=True)
    subject = models.CharField(max_length=998, blank=True)
    raw = models.TextField(help_text="The whole MIME message as received.")
    new_text = models.TextField(blank=True, help_text="The reply without quotes and signature.")
    understood = models.JSONField(default=dict, blank=True)
    applied = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RECEIVED)
    reason = models.CharField(max_length=300, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)
    # Check-ins by reply (flow 4): the check-in answered, how the raw text is kept, the undo.
    delivery = models.ForeignKey(
        Delivery, null=True, blank=True, on_delete=models.SET_NULL, related_name="replies", help_text="The check-in."
    )
    esp = models.CharField(max_length=40, blank=True, help_text="The ESP whose webhook delivered it.")
    raw_encoding = models.CharField(max_length=20, default="utf-8", help_text="How `raw` maps back to the bytes.")
    undone_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "replies"
        ordering = ["-received_at"]
        indexes = [
            # Read by the admin review queue (ReplyAdmin, filtered on status).
            models.Index(fields=["status", "received_at"], name="reply_status_idx"),
            # Read by subscribers.ops.rollup._rebuild_replies(): replies received, by day and status.
            models.Index(fields=["received_at", "status"], name="reply_received_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.sender}: {self.subject}"


class Conversation(models.Model):
    """One reader's thread with us: their replies and our answers, acknowledgements and confirmations."""

    subscriber = models.OneToOneField(Subscriber, on_delete=models.CASCADE, related_name="conversation")
    last_message_at = models.DateTimeField(default=timezone.now)
    last_from_reader_at = models.DateTimeField(null=True, blank=True)
    unread = models.BooleanField(default=False, help_text="The reader wrote something nobody has opened yet.")
    needs_answer = models.BooleanField(default=False, help_text="A question, or a reply sent to review.")
    acknowledged_at = models.DateTimeField(
        null=True, blank=True, help_text="When the reader was last told a person reads every reply (one a day)."
    )

    class Meta:
        indexes = [models.Index(fields=["-last_message_at"], name="conversation_newest_idx")]

    def __str__(self) -> str:
        return f"{self.subscriber} ({self.last_message_at:%Y-%m-%d %H:%M})"


class ConversationMessage(models.Model):
    """One message of a thread: a reply from the reader, or an email from us."""

    class Direction(models.TextChoices):
        FROM_READER = "in", "From the reader"
        FROM_US = "out", "From us"

    class Kind(models.TextChoices):
        REPLY = "reply"
        ANSWER = "answer"
        CONFIRMATION = "confirmation"
        ACKNOWLEDGEMENT = "acknowledgement"

    class State(models.TextChoices):
        RECEIVED = "", "Received"
        PENDING = "pending"
        SENDING = "sending"
        SENT = "sent"
        FAILED = "failed"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    direction = models.CharField(max_length=3, choices=Direction.choices)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    body = models.TextField(blank=True)
    author = models.CharField(max_length=100, blank=True, help_text="reader, system or admin:<user>.")
    reply = models.ForeignKey(Reply, null=True, blank=True, on_delete=models.CASCADE, related_name="thread_messages")
    delivery = models.ForeignKey(
        Delivery, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", help_text="The email answered."
    )
    message_id = models.CharField(max_length=998, blank=True)
    in_reply_to = models.CharField(max_length=998, blank=True)
    subject = models.CharField(max_length=998, blank=True)
    at = models.DateTimeField(default=timezone.now)
    state = models.CharField(max_length=10, choices=State.choices, blank=True, default=State.RECEIVED)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True, help_text="Ours: when the email went out.")

    class Meta:
        ordering = ["at", "id"]
        constraints = [models.UniqueConstraint(fields=["reply", "kind"], name="one_thread_message_per_reply_kind")]

    def __str__(self) -> str:
        return f"{self.kind} {self.direction} {self.at:%Y-%m-%d %H:%M}"


class Event(models.Model):
    """The audit row every state change writes, in the same transaction: what, before, after, why."""

    class What(models.TextChoices):
        """The audit vocabulary: what happened, `<thing>_<past tense>`."""

        ENROLLED = "enrolled", "Enrolled"
        STAGE_CHANGED = "stage_changed", "Stage changed"
        DESTINATION_CHANGED = "destination_changed", "Destination changed"
        STATUS_CHANGED = "status_changed", "Status changed"
        TIMING_CHANGED = "timing_changed", "Weekly time changed"
        LICENSE_PLAN_CHANGED = "license_plan_changed", "License plan changed"
        PAY_NEED_CHANGED = "pay_need_changed", "Pay need changed"
        PROFESSION_CHANGED = "profession_changed", "Profession changed"
        SPECIALTY_CHANGED = "specialty_changed", "Specialty changed"
        EMAIL_CHANGE_REQUESTED = "email_change_requested", "New email address asked for (not yet confirmed)"
        EMAIL_CHANGED = "email_changed", "Email address changed"
        LINKS_REVOKED = "links_revoked", "Every link signed out"
        LINK_SENT = "link_sent", "Fresh link emailed"
        FAST_FORWARDED = "fast_forwarded", "Fast-forwarded (development)"
        DELIVERY_CANCELLED = "delivery_cancelled", "Email cancelled"
        DELIVERY_FAILED = "delivery_failed", "Email failed"
        PAYMENT_RECEIVED = "payment_received", "Payment received"
        PAYMENT_REPEATED = "payment_repeated", "Paid again (already enrolled)"
        PAYMENT_FAILED = "payment_failed", "Payment failed"
        PAYMENT_NOT_ENROLLED = "payment_not_enrolled", "Paid, nobody enrolled"
        PAYMENT_REFUNDED = "payment_refunded", "Payment refunded"
        PAYMENT_DISPUTED = "payment_disputed", "Payment disputed"
        REPLY_RESOLVED = "reply_resolved", "Reply resolved in review"
        REPLY_DISMISSED = "reply_dismissed", "Reply dismissed"
        REPLY_ANSWERED = "reply_answered", "Answered in the inbox"

    subscriber = models.ForeignKey(Subscriber, null=True, blank=True, on_delete=models.CASCADE, related_name="events")
    what = models.CharField(max_length=64, choices=What.choices)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    why = models.CharField(max_length=300, blank=True)
    actor = models.CharField(max_length=100, default="system", help_text="system, reader, command or admin:<user>.")
    at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.what}"


class OutboxMessage(models.Model):
    """An email kept by the local outbox backend instead of being sent (fresh machines, tests)."""

    message_id = models.CharField(max_length=255, blank=True)
    from_email = models.CharField(max_length=320)
    to = models.JSONField(default=list)
    recipient = models.CharField(max_length=320, db_index=True, help_text="The first To address.")
    reply_to = models.JSONField(default=list)
    subject = models.CharField(max_length=998)
    text = models.TextField(blank=True)
    html = models.TextField(blank=True)
    headers = models.JSONField(default=dict)
    raw = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.subject} → {', '.join(self.to)}"


class Signup(models.Model):
    """Intake answers waiting for payment. Its reference travels through Stripe Checkout
    (`client_reference_id`) and comes back in the webhook that enrols the reader."""

    class Leaving(models.TextChoices):
        CARE = "care", "Direct patient care itself"
        SETTING = "setting", "My current setting (employer, schedule, specialty), not care itself"
        UNSURE = "unsure", "I'm not sure yet"

    License = LicensePlan
    PayNeed = PayNeed

    class Status(models.TextChoices):
        OPEN = "open", "Open (not paid)"
        ENROLLED = "enrolled", "Enrolled"
        NOT_ENROLLED = "not-enrolled", "Paid, not enrolled (see payment)"

    reference = models.UUIDField(unique=True, default=uuid.uuid4, editable=False)
    course = models.ForeignKey(Course, on_delete=models.PROTECT, related_name="signups")
    email = models.EmailField()
    first_name = models.CharField(max_length=100)
    profession = models.CharField(max_length=20, choices=Profession.choices, blank=True)
    specialty = models.CharField(max_length=200)
    leaving = models.CharField(max_length=10, choices=Leaving.choices)
    destination = models.CharField(max_length=30, choices=Destination.choices)
    license = models.CharField(max_length=10, choices=License.choices)
    pay_need = models.CharField(max_length=12, choices=PayNeed.choices)
    time_zone = models.CharField(max_length=64)
    send_hour = models.PositiveSmallIntegerField(validators=[MaxValueValidator(23)])
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    subscriber = models.ForeignKey(Subscriber, null=True, blank=True, on_delete=models.SET_NULL, related_name="signups")
    checkout_session_id = models.CharField(max_length=255, blank=True, help_text="The last Checkout session opened.")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.email} ({self.status})"


class Payment(models.Model):
    """One payment for a course, keyed by Stripe's payment intent: whichever event arrives
    first (completion, refund, dispute) creates the row, and later events lock it."""

    class Status(models.TextChoices):
        PROCESSING = "processing", "Processing (delayed payment method)"
        PAID = "paid"
        FAILED = "failed"
        REFUNDED = "refunded"
        DISPUTED = "disputed"

    payment_intent_id = models.CharField(max_length=255, unique=True)
    checkout_session_id = models.CharField(max_length=255, blank=True, db_index=True)
    signup = models.ForeignKey(Signup, null=True, blank=True, on_delete=models.SET_NULL, related_name="payments")
    subscriber = models.ForeignKey(
        Subscriber, null=True, blank=True, on_delete=models.SET_NULL, related_name="payments"
    )
    amount_cents = models.PositiveIntegerField(default=0)
    currency = models.CharField(max_length=3, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PROCESSING)
    enrolled = models.BooleanField(default=False, help_text="This payment enrolled its subscriber.")
    needs_refund = models.BooleanField(
        default=False, help_text="Paid but enrolled nobody (a second payment, a wrong amount): refund it."
    )
    note = models.CharField(max_length=300, blank=True)
    refund_id = models.CharField(max_length=255, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)
    livemode = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.payment_intent_id} {self.amount_cents / 100:.2f} {self.currency.upper()} ({self.status})"

    @property
    def is_local(self) -> bool:
        """Made by the local signed checkout: there is nothing at Stripe to refund."""
        return self.payment_intent_id.startswith("pi_local_")


class StripeEvent(models.Model):
    """Every verified Stripe event, once: the event id is the idempotency key."""

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    livemode = models.BooleanField(default=False)
    payload = models.JSONField()
    outcome = models.CharField(max_length=300, blank=True, help_text="What handling the event did.")
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.event_id} {self.type}"


class TrackingEvent(models.Model):
    """One event from the ESP's tracking webhook (delivered, bounced, complained...), kept once:
    (esp, event_id) is unique, so a redelivered webhook changes nothing."""

    class Effect(models.TextChoices):
        DELIVERED = "delivered"
        SOFT_BOUNCE = "soft-bounce"
        HARD_BOUNCE = "hard-bounce"
        COMPLAINT = "complaint"
        UNSUBSCRIBE = "unsubscribe"
        NONE = "none", "No effect"

    esp = models.CharField(max_length=40)
    event_id = models.CharField(max_length=255, help_text="The ESP's id for the event (or a digest of it).")
    event_type = models.CharField(max_length=30, help_text="anymail's normalised event type.")
    effect = models.CharField(max_length=12, choices=Effect.choices, default=Effect.NONE)
    recipient = models.CharField(max_length=320, blank=True)
    provider_message_id = models.CharField(max_length=255, blank=True)
    description = models.CharField(max_length=500, blank=True)
    delivery = models.ForeignKey(
        Delivery, null=True, blank=True, on_delete=models.SET_NULL, related_name="tracking_events"
    )
    subscriber = models.ForeignKey(
        Subscriber, null=True, blank=True, on_delete=models.SET_NULL, related_name="tracking_events"
    )
    payload = models.JSONField(default=dict)
    occurred_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["esp", "event_id"], name="one_tracking_event_per_esp_id")]
        indexes = [
            # Read by subscribers.sending.tracking.soft_bounces_in_a_row(): a reader's recent events.
            models.Index(fields=["subscriber", "received_at"], name="tracking_subscriber_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.esp} {self.event_type} {self.recipient}"


class SendAllowance(models.Model):
    """The token bucket that holds sends to one ESP under its rate (subscribers.sending.throttle)."""

    esp = models.CharField(max_length=40, primary_key=True)
    tokens = models.FloatField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.esp}: {self.tokens:.1f} tokens"


class Heartbeat(models.Model):
    """The last sign of life of a process that must keep running (subscribers.ops.health):
    `beat` (the scheduler's loop), `tick` (the last tick that finished, with its figures) and
    `worker:<hostname>` (each Celery worker). Read by /readyz and the dashboard."""

    name = models.CharField(max_length=200, primary_key=True)
    at = models.DateTimeField()
    detail = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"{self.name} at {self.at:%Y-%m-%d %H:%M:%S}"


class WebhookAnswer(models.Model):
    """How many times each webhook endpoint answered each status (subscribers.ops.metrics): one
    counter row per (endpoint, status), added to by one UPDATE per webhook, read by the metrics."""

    endpoint = models.CharField(max_length=40)
    status = models.PositiveSmallIntegerField()
    count = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["endpoint", "status"], name="one_webhook_answer_counter")]

    def __str__(self) -> str:
        return f"{self.endpoint} {self.status}: {self.count}"


# --- The dashboard's daily rollup (subscribers.ops.rollup) --------------------------------------
#
# Each table is a sum of rows: database triggers on deliveries, replies and readers append a
# `pending` row of +1/-1 changes for every change that moves a figure (late or not), and the
# beat task `fold_daily_figures` adds the pending rows into one folded row per key. The
# dashboard sums both, so its figures are exact at every moment, folded or not. Days are UTC
# days (TIME_ZONE), as the dashboard's TruncDate reads them.


class EmailDay(models.Model):
    """Emails of one lesson by UTC day: sent (by sent_at), delivered, bounced and complained (by
    outcome_at), failed (by created_at) and answered (sent that day and replied to, once each)."""

    day = models.DateField()
    # No database constraint on the rollup's keys: its triggers add rows while a table is emptied
    # whole (SQLite runs them on DELETE), and a figure for a gone lesson or course harms nothing.
    lesson = models.ForeignKey(Lesson, on_delete=models.CASCADE, related_name="+", db_constraint=False)
    sent = models.IntegerField(default=0)
    delivered = models.IntegerField(default=0)
    bounced = models.IntegerField(default=0)
    complained = models.IntegerField(default=0)
    failed = models.IntegerField(default=0)
    answered = models.IntegerField(default=0)
    pending = models.BooleanField(default=True, help_text="A change not yet folded into its day's row.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "lesson"], condition=Q(pending=False), name="one_email_day")
        ]
        # Read by subscribers.ops.reports._emails(): the days of the period.
        indexes = [models.Index(fields=["day", "lesson"], name="email_day_idx")]

    def __str__(self) -> str:
        return f"{self.day} lesson {self.lesson_id}: {self.sent} sent"


class ReplyDay(models.Model):
    """Replies received on a UTC day, by the reader's course (none: no reader) and status now."""

    day = models.DateField()
    course = models.ForeignKey(Course, null=True, on_delete=models.CASCADE, related_name="+", db_constraint=False)
    status = models.CharField(max_length=10)
    replies = models.IntegerField(default=0)
    pending = models.BooleanField(default=True, help_text="A change not yet folded into its day's row.")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "course", "status"], condition=Q(pending=False), name="one_reply_day"
            )
        ]
        # Read by subscribers.ops.reports._checkins(): replies received in the period.
        indexes = [models.Index(fields=["day", "course"], name="reply_day_idx")]

    def __str__(self) -> str:
        return f"{self.day} {self.status}: {self.replies}"


class EnrolmentDay(models.Model):
    """Readers who enrolled on a UTC day, by course and by their status, stage and destination now."""

    day = models.DateField()
    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="+", db_constraint=False)
    status = models.CharField(max_length=20)
    stage = models.CharField(max_length=20)
    destination = models.CharField(max_length=30)
    readers = models.IntegerField(default=0)
    pending = models.BooleanField(default=True, help_text="A change not yet folded into its day's row.")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "course", "status", "stage", "destination"],
                condition=Q(pending=False),
                name="one_enrolment_day",
            )
        ]
        # Read by subscribers.ops.reports._readers(): every reader, by course.
        indexes = [models.Index(fields=["course", "day"], name="enrolment_day_idx")]

    def __str__(self) -> str:
        return f"{self.day} {self.status}/{self.stage}/{self.destination}: {self.readers}"
