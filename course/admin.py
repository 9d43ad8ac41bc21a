from __future__ import annotations

from django.contrib import admin

from course.models import Course


@admin.register(Course)
class CourseAdmin(admin.ModelAdmin):
    list_display = ["title", "slug", "price", "currency", "length_months", "checkin_interval_weeks"]
    prepopulated_fields = {"slug": ["title"]}
