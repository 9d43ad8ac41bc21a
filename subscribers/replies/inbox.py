"""The conversation inbox in the admin (flow 9): one thread per reader, newest first, with unread and
"needs an answer" filters. A thread shows every reply (what it changed, with its undo) and every email
we sent on it; the answer written there goes out threaded (subscribers.replies.conversations.answer).
Registered from subscribers.admin."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import OuterRef, Subquery
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.utils.text import Truncator

from subscribers.models import Conversation, ConversationMessage, Reply
from subscribers.replies import conversations, inbound


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ["reader", "latest", "last_message_at", "unread", "needs_answer", "reader_status"]
    list_display_links = ["reader", "latest"]
    list_filter = ["unread", "needs_answer", "subscriber__course"]
    search_fields = ["subscriber__email", "subscriber__first_name", "messages__body"]
    list_select_related = ["subscriber"]
    ordering = ["-last_message_at"]
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest):
        latest = ConversationMessage.objects.filter(
            conversation=OuterRef("pk"), direction=ConversationMessage.Direction.FROM_READER
        ).order_by("-at", "-id")
        return super().get_queryset(request).annotate(latest_text=Subquery(latest.values("body")[:1]))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="reader", ordering="subscriber__email")
    def reader(self, conversation: Conversation) -> str:
        subscriber = conversation.subscriber
        return f"{subscriber.first_name} <{subscriber.email}>" if subscriber.first_name else subscriber.email

    @admin.display(description="last from the reader")
    def latest(self, conversation: Conversation) -> str:
        return Truncator(" ".join((conversation.latest_text or "(no text)").split())).chars(90)

    @admin.display(description="reader is")
    def reader_status(self, conversation: Conversation) -> str:
        return conversation.subscriber.status

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        """The thread itself: opening it marks it read; POST answers, marks it answered, or undoes a reply."""
        conversation = get_object_or_404(Conversation.objects.select_related("subscriber__course"), pk=object_id)
        if not self.has_view_or_change_permission(request, conversation):
            return HttpResponseRedirect("../../")
        if request.method == "POST":
            if not self.has_change_permission(request, conversation):
                return HttpResponse("You may read this thread but not answer it.", status=403)
            return self._act(request, conversation)
        conversations.mark_read(conversation)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Conversation with {conversation.subscriber.email}",
            "conversation": conversation,
            "subscriber": conversation.subscriber,
            "entries": conversations.thread(conversation.subscriber, undo_url=inbound.undo_url),
            "can_answer": self.has_change_permission(request, conversation),
        }
        return TemplateResponse(request, "admin/subscribers/conversation/thread.html", context)

    def _act(self, request: HttpRequest, conversation: Conversation) -> HttpResponse:
        actor = f"admin:{request.user.get_username()}"
        action = request.POST.get("action")
        if action == "answer":
            text = request.POST.get("text", "")
            if not text.strip():
                self.message_user(request, "Write an answer first.", messages.WARNING)
            else:
                conversations.answer(conversation, text, actor=actor)
                email = conversation.subscriber.email
                self.message_user(request, f"Answer sent to {email}, threaded under their last reply.")
        elif action == "answered":
            conversations.set_needs_answer(conversation, False)
            self.message_user(request, "Marked as needing no answer.")
        elif action == "needs-answer":
            conversations.set_needs_answer(conversation, True)
            self.message_user(request, "Marked as needing an answer.")
        elif action == "undo":
            reply = Reply.objects.filter(pk=request.POST.get("reply"), subscriber=conversation.subscriber).first()
            if reply is None:
                self.message_user(request, "That reply is not on this thread.", messages.WARNING)
            else:
                reverted = inbound.undo(reply, actor=actor)
                described = "; ".join(f"{c.what} back to {c.after}" for c in reverted) or "nothing (undone already)"
                self.message_user(request, f"Reply {reply.pk} undone: {described}.")
        return HttpResponseRedirect(request.path)
