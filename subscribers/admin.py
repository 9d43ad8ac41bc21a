from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html, format_html_join

from course.schedule import zone
from subscribers import drip
from subscribers.models import Delivery, Event, OutboxMessage, Reply, Subscriber


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


@admin.register(Subscriber)
class SubscriberAdmin(admin.ModelAdmin):
    list_display = ["email", "first_name", "course", "status", "stage", "destination", "next_send_at", "enrolled_at"]
    list_filter = ["course", "status", "stage", "destination"]
    search_fields = ["email", "first_name"]
    readonly_fields = [
        "enrolled_at", "paused_at", "paused_for", "next_send_at", "created_at", "updated_at", "coming_emails"
    ]  # fmt: skip
    inlines = [DeliveryInline, EventInline]

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
                for slot in drip.preview_for(subscriber, weeks=12)
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


@admin.register(Reply)
class ReplyAdmin(admin.ModelAdmin):
    list_display = ["received_at", "sender", "subject", "status", "reason"]
    list_filter = ["status"]
    search_fields = ["sender", "subject", "message_id"]
    readonly_fields = [f.name for f in Reply._meta.fields]


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
