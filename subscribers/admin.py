from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils.html import format_html, format_html_join

from course.schedule import zone
from course.vocabulary import Destination, Stage
from subscribers.models import Delivery, Event, OutboxMessage, Payment, Reply, Signup, StripeEvent, Subscriber
from subscribers.plan.coming import preview_for
from subscribers.readers import changes
from subscribers.readers.changes import ChangeRefused
from subscribers.replies import inbound
from subscribers.replies import inbox as _inbox  # noqa: F401  (registers the conversation inbox)
from subscribers.signup import checkout


class EventInline(admin.TabularInline):
    model = Event
    fields = ["at", "what", "before", "after", "why", "actor"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["-at", "-id"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class DeliveryInline(admin.TabularInline):
    model = Delivery
    fields = ["lesson", "version", "state", "due_at", "sent_at", "outcome", "reason", "error"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class PaymentInline(admin.TabularInline):
    model = Payment
    fields = ["created_at", "status", "amount", "enrolled", "needs_refund", "note", "payment_intent_id", "refund_id"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="amount")
    def amount(self, payment: Payment) -> str:
        return f"{payment.amount_cents / 100:.2f} {payment.currency.upper()}"


class SubscriberForm(forms.ModelForm):
    """The destination is one of the reader's course's own tracks (its course.yaml), not only the
    built-in ones the model lists; changes.change_destination checks it when saved."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and "destination" in self.fields:
            words = self.instance.course.words
            self.fields["destination"].choices = words.destination_choices()

    def _get_validation_exclusions(self):
        return {*super()._get_validation_exclusions(), "destination"}


@admin.register(Subscriber)
class SubscriberAdmin(admin.ModelAdmin):
    form = SubscriberForm
    list_display = ["email", "first_name", "course", "status", "stage", "destination", "next_send_at", "enrolled_at"]
    list_filter = ["course", "status", "stage", "destination", "profession", "license_plan", "pay_need"]
    search_fields = ["email", "first_name"]
    readonly_fields = [
        "enrolled_at", "paused_at", "paused_slots", "stage_reported_at", "next_send_at", "created_at", "updated_at",
        "link_generation", "coming_emails"
    ]  # fmt: skip
    inlines = [PaymentInline, DeliveryInline, EventInline]
    actions = ["sign_out_links"]
    # Reader state changes only through subscribers.readers.changes (audited); the rest saves as is.
    STATE_FIELDS = (
        "email",
        "profession",
        "specialty",
        "stage",
        "destination",
        "license_plan",
        "pay_need",
        "status",
        "time_zone",
        "send_hour",
        "send_weekday",
    )

    def has_add_permission(self, request) -> bool:
        return False  # readers enrol by paying, or with `manage.py enroll` (comps and support)

    def save_model(self, request, obj: Subscriber, form, change: bool) -> None:
        plain = [name for name in form.changed_data if name not in self.STATE_FIELDS]
        if plain:
            obj.save(update_fields=[*plain, "updated_at"])
        wanted = {name: getattr(obj, name) for name in self.STATE_FIELDS if name in form.changed_data}
        if not wanted:
            return
        reader = Subscriber.objects.get(pk=obj.pk)
        actor, why = f"admin:{request.user.get_username()}", "changed in the admin"
        try:
            if "email" in wanted:  # signs out every link sent to the old address
                changes.change_email(reader, wanted["email"], actor=actor, why=why)
            if "profession" in wanted:
                changes.change_profession(reader, wanted["profession"], actor=actor, why=why)
            if "specialty" in wanted:
                changes.change_specialty(reader, wanted["specialty"], actor=actor, why=why)
            if "stage" in wanted:
                changes.change_stage(reader, wanted["stage"], actor=actor, why=why)
            if "destination" in wanted:
                changes.change_destination(reader, wanted["destination"], actor=actor, why=why)
            if "license_plan" in wanted:
                changes.change_license_plan(reader, wanted["license_plan"], actor=actor, why=why)
            if "pay_need" in wanted:
                changes.change_pay_need(reader, wanted["pay_need"], actor=actor, why=why)
            if wanted.keys() & {"time_zone", "send_hour", "send_weekday"}:
                changes.change_timing(
                    reader, time_zone=obj.time_zone, send_hour=obj.send_hour, send_weekday=obj.send_weekday,
                    actor=actor, why=why,
                )  # fmt: skip
            if "status" in wanted:
                changes.move_status(reader, wanted["status"], actor=actor, why=why)
        except ChangeRefused as exc:
            messages.error(request, f"Not changed: {exc}")
        obj.refresh_from_db()

    @admin.action(description="Sign out every link (preferences, plan, archive; unsubscribe still works)")
    def sign_out_links(self, request, queryset) -> None:
        actor = f"admin:{request.user.get_username()}"
        for reader in queryset:
            changes.revoke_links(reader, actor=actor, why="signed out in the admin")
        self.message_user(
            request,
            f"Signed out every link of {len(queryset)} reader(s); each can get a fresh one on an expired link's page.",
        )

    @admin.display(description="coming emails (what the planner will send, and why)")
    def coming_emails(self, subscriber: Subscriber) -> str:
        if subscriber.pk is None:
            return "-"
        if subscriber.status not in (Subscriber.Status.ACTIVE, Subscriber.Status.PAUSED):
            return f"none: the reader is {subscriber.status}"
        tz = zone(subscriber.time_zone)
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (f"{slot.at.astimezone(tz):%a %Y-%m-%d %H:%M}", slot.month, slot.lesson.kind if slot.lesson else "-",
                 slot.lesson.slug if slot.lesson else "(no email)", slot.reason)
                for slot in preview_for(subscriber, weeks=12)
            ),
        )  # fmt: skip
        note = " (paused: shown as if resumed now)" if subscriber.paused_at else ""
        return format_html(
            "<p>Local time in {}{}</p><table><thead><tr><th>local time</th><th>month</th><th>kind</th>"
            "<th>lesson</th><th>why</th></tr></thead><tbody>{}</tbody></table>",
            subscriber.time_zone, note, rows,
        )  # fmt: skip


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["subscriber", "lesson", "state", "due_at", "sent_at", "attempts", "outcome"]
    list_filter = ["state", "outcome", "lesson__course"]
    search_fields = ["subscriber__email", "lesson__slug", "provider_message_id"]
    list_select_related = ["subscriber", "lesson"]
    readonly_fields = [f.name for f in Delivery._meta.fields]


def _review_action(name: str, description: str, **choice):
    """An admin action applying one decision to the selected replies, each audited
    (subscribers.replies.inbound.resolve)."""

    def action(modeladmin, request, queryset):
        done, refused = 0, []
        for reply in queryset.select_related("subscriber"):
            try:
                inbound.resolve(reply, actor=f"admin:{request.user.get_username()}", **choice)
                done += 1
            except ChangeRefused as exc:
                refused.append(f"reply {reply.pk}: {exc}")
        modeladmin.message_user(request, f"{description}: applied to {done} replies.")
        if refused:
            modeladmin.message_user(request, "; ".join(refused), level=messages.WARNING)

    action.__name__ = name
    return admin.action(description=description)(action)


@admin.action(description="Apply what was understood")
def apply_understood(modeladmin, request, queryset):
    for reply in queryset.select_related("subscriber"):
        understood = reply.understood or {}
        if understood.get("problem") or not any(understood.get(k) for k in ("stage", "destination", "command")):
            modeladmin.message_user(request, f"reply {reply.pk}: nothing clear to apply", level=messages.WARNING)
            continue
        try:
            inbound.resolve(
                reply, actor=f"admin:{request.user.get_username()}", stage=understood.get("stage"),
                destination=understood.get("destination"), command=understood.get("command"),
            )  # fmt: skip
        except ChangeRefused as exc:
            modeladmin.message_user(request, f"reply {reply.pk}: {exc}", level=messages.WARNING)


@admin.action(description="Dismiss (change nothing)")
def dismiss(modeladmin, request, queryset):
    for reply in queryset:
        inbound.dismiss(reply, actor=f"admin:{request.user.get_username()}")


@admin.register(Reply)
class ReplyAdmin(admin.ModelAdmin):
    """The review queue: replies the parser could not read safely, with what it understood and why."""

    list_display = ["received_at", "sender", "subscriber", "status", "read_as", "reason"]
    list_filter = ["status", "esp"]
    search_fields = ["sender", "subject", "message_id", "new_text", "subscriber__email"]
    list_select_related = ["subscriber"]
    readonly_fields = [
        "status", "reason", "subscriber", "delivery", "sender", "recipient", "subject", "new_text_block",
        "understood_block", "applied", "received_at", "processed_at", "undone_at", "esp", "message_id", "raw_block",
    ]  # fmt: skip
    exclude = ["raw", "new_text", "understood", "raw_encoding"]
    actions = [
        apply_understood,
        *[
            _review_action(f"apply_stage_{stage.number}", f"Set stage {stage.number} ({stage.label})", stage=stage)
            for stage in Stage
        ],
        *[
            _review_action(f"apply_destination_{d.name.lower()}", f"Set destination: {d.label}", destination=d)
            for d in Destination
        ],
        *[
            _review_action(f"apply_{command}", f"Command: {command}", command=command)
            for command in ("pause", "resume", "stop")
        ],
        dismiss,
    ]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description="read as")
    def read_as(self, reply: Reply) -> str:
        return (reply.understood or {}).get("summary", "")

    @admin.display(description="new text")
    def new_text_block(self, reply: Reply) -> str:
        return format_html("<pre style='white-space:pre-wrap'>{}</pre>", reply.new_text or "(none)")

    @admin.display(description="understood")
    def understood_block(self, reply: Reply) -> str:
        return format_html("<pre style='white-space:pre-wrap'>{}</pre>", json.dumps(reply.understood, indent=2))

    @admin.display(description="raw message")
    def raw_block(self, reply: Reply) -> str:
        return format_html("<pre style='white-space:pre-wrap;max-height:30em;overflow:auto'>{}</pre>", reply.raw)


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["at", "subscriber", "what", "before", "after", "why", "actor"]
    list_filter = ["what", "actor"]
    search_fields = ["subscriber__email", "why"]
    readonly_fields = [f.name for f in Event._meta.fields]


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    list_display = ["created_at", "subject", "to"]
    search_fields = ["subject"]
    readonly_fields = [f.name for f in OutboxMessage._meta.fields]


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = ["created_at", "subscriber", "status", "amount", "enrolled", "needs_refund", "note"]
    list_filter = ["status", "needs_refund", "enrolled", "livemode"]
    search_fields = ["subscriber__email", "signup__email", "payment_intent_id", "checkout_session_id"]
    list_select_related = ["subscriber"]
    readonly_fields = [f.name for f in Payment._meta.fields]
    actions = ["refund"]

    @admin.display(description="amount")
    def amount(self, payment: Payment) -> str:
        return f"{payment.amount_cents / 100:.2f} {payment.currency.upper()}"

    @admin.action(description="Refund in full through Stripe (stops the course it paid for)")
    def refund(self, request, queryset):
        """Asks first (a page listing each payment, the reader and what stops); refunds on "Yes"."""
        if request.POST.get("confirmed") != "yes":
            context = {
                **self.admin_site.each_context(request),
                "title": "Refund these payments in full?",
                "payments": list(queryset.select_related("subscriber", "subscriber__course")),
                "opts": self.model._meta,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, "admin/subscribers/payment/refund_confirmation.html", context)
        for payment in queryset:
            try:
                outcome = checkout.refund(payment, actor=f"admin:{request.user.get_username()}")
            except checkout.RefundError as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                self.message_user(request, f"Refund of {payment.payment_intent_id}: {outcome}", messages.SUCCESS)

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Signup)
class SignupAdmin(admin.ModelAdmin):
    list_display = ["created_at", "email", "first_name", "course", "status", "leaving", "destination"]
    list_filter = ["status", "course", "leaving", "destination", "license", "pay_need"]
    search_fields = ["email", "first_name", "reference", "checkout_session_id"]
    readonly_fields = ["reference", "subscriber", "checkout_session_id", "created_at", "updated_at"]


@admin.register(StripeEvent)
class StripeEventAdmin(admin.ModelAdmin):
    list_display = ["received_at", "event_id", "type", "outcome"]
    list_filter = ["type", "livemode"]
    search_fields = ["event_id", "outcome"]
    readonly_fields = [f.name for f in StripeEvent._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False
