from __future__ import annotations

from django.contrib import admin

from lessons.models import Lesson, LessonVersion


class LessonVersionInline(admin.TabularInline):
    model = LessonVersion
    fields = ["number", "subject", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(Lesson)
class LessonAdmin(admin.ModelAdmin):
    list_display = ["slug", "course", "kind", "stage", "month", "order", "current_version"]
    list_filter = ["course", "kind", "stage", "month"]
    search_fields = ["slug", "versions__subject"]
    inlines = [LessonVersionInline]
    readonly_fields = ["current_version"]


@admin.register(LessonVersion)
class LessonVersionAdmin(admin.ModelAdmin):
    list_display = ["lesson", "number", "subject", "created_at"]
    readonly_fields = ["lesson", "number", "subject", "body", "created_at"]

    def has_add_permission(self, request) -> bool:
        return False
