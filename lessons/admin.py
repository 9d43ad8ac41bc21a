from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from course.coverage import course_map
from course.models import Course
from course.vocabulary import ANY, Destination, Stage
from lessons import sections
from lessons.catalogue import Catalogue
from lessons.importing import add_version
from lessons.models import Lesson, LessonVersion
from lessons.previews import render_draft, send_test
from lessons.rendering import LESSON_LINK_RE, LINK_SAFE, unknown_placeholders, unsafe_placeholders


def draft_problems(body: str) -> list[str]:
    """What the editor refuses besides unknown placeholders: a reader's answer inside a link's
    address, and unsound `::: for` sections (each with its line)."""
    found = [f"Placeholder {name} inside a link address: only {' and '.join(LINK_SAFE)} may stand there."
             for name in sorted(unsafe_placeholders(body))]  # fmt: skip
    return found + [f"Line {line + 1}: {message}." for line, message in sections.problems(body)]


class LessonForm(forms.ModelForm):
    """Targeting fields of the lesson plus the subject and body of its current version: a
    changed subject or body is saved as a new version."""

    subject = forms.CharField(max_length=200, widget=forms.TextInput(attrs={"size": 90}))
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 24, "class": "vLargeTextField lesson-body"}))
    destinations = forms.MultipleChoiceField(
        choices=[(ANY, "Any destination"), *Destination.choices], widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = Lesson
        fields = ["course", "slug", "kind", "stage", "destinations", "month", "order"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        version = self.instance.current_version if self.instance.pk else None
        if version is not None:
            self.fields["subject"].initial, self.fields["body"].initial = version.subject, version.body
        if not self.instance.pk:
            self.fields["destinations"].initial = [ANY]

    def clean_destinations(self) -> list[str]:
        chosen = self.cleaned_data["destinations"]
        if ANY in chosen and len(chosen) > 1:
            raise forms.ValidationError("Choose 'Any destination' alone, or specific destinations.")
        return chosen

    def clean(self) -> dict:
        cleaned = super().clean()
        text = f"{cleaned.get('subject', '')}\n{cleaned.get('body', '')}"
        unknown = unknown_placeholders(text)
        if unknown:
            raise forms.ValidationError(f"Unknown placeholder: {', '.join(sorted(unknown))}.")
        problems = draft_problems(cleaned.get("body", ""))
        if problems:
            raise forms.ValidationError(problems)
        course = cleaned.get("course")
        links = set(LESSON_LINK_RE.findall(cleaned.get("body", "")))
        if course and links:
            known = set(Lesson.objects.filter(course=course, slug__in=links).values_list("slug", flat=True))
            if links - known:
                raise forms.ValidationError(f"Link to unknown lesson: {', '.join(sorted(links - known))}.")
        return cleaned


class LessonVersionInline(admin.TabularInline):
    model = LessonVersion
    fields = ["number", "subject", "created_at", "sent"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = "History (every version; deliveries keep the version they sent)"

    @admin.display(description="deliveries")
    def sent(self, version: LessonVersion) -> int:
        return version.deliveries.count()

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Lesson)
class LessonAdmin(admin.ModelAdmin):
    form = LessonForm
    change_form_template = "admin/lessons/lesson/change_form.html"
    change_list_template = "admin/lessons/lesson/change_list.html"
    list_display = ["slug", "subject", "course", "kind", "stage", "month", "order", "version"]
    list_filter = ["course", "kind", "stage", "month"]
    search_fields = ["slug", "versions__subject"]
    list_select_related = ["current_version", "course"]
    inlines = [LessonVersionInline]
    fieldsets = [
        (None, {"fields": ["course", "slug", "subject", "body"]}),
        ("Who gets it, and when", {"fields": ["kind", "stage", "destinations", "month", "order"]}),
    ]

    @admin.display(description="subject")
    def subject(self, lesson: Lesson) -> str:
        return lesson.current_version.subject if lesson.current_version else ""

    @admin.display(description="version")
    def version(self, lesson: Lesson) -> str:
        return f"v{lesson.current_version.number}" if lesson.current_version else "-"

    @transaction.atomic
    def save_model(self, request, obj: Lesson, form: LessonForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        subject, body = form.cleaned_data["subject"], form.cleaned_data["body"].replace("\r\n", "\n")
        current = obj.current_version
        if current is None or (current.subject, current.body) != (subject, body):
            version = add_version(obj, subject, body)
            if current is not None:
                messages.info(request, f"Saved as version {version.number}; version {current.number} is kept.")

    def get_urls(self):
        view = self.admin_site.admin_view
        own = [
            path("<int:pk>/preview/", view(self.preview_view), name="lessons_lesson_preview"),
            path("<int:pk>/send-test/", view(self.send_test_view), name="lessons_lesson_send_test"),
            path("course-map/", view(self.course_map_view), name="lessons_lesson_course_map"),
        ]
        return own + super().get_urls()

    def preview_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """POST subject + body → the rendered HTML email and text part, for the live preview."""
        lesson = get_object_or_404(Lesson.objects.select_related("course"), pk=pk)
        if request.method != "POST" or not self.has_change_permission(request, lesson):
            return JsonResponse({"error": "POST a subject and body"}, status=405)
        subject, body = request.POST.get("subject", ""), request.POST.get("body", "")
        unknown = unknown_placeholders(f"{subject}\n{body}")
        rendered = render_draft(lesson, subject, body)
        return JsonResponse(
            {"subject": rendered.subject, "html": rendered.html, "text": rendered.text,
             "problems": [f"unknown placeholder {name}" for name in sorted(unknown)] + draft_problems(body)}
        )  # fmt: skip

    def send_test_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        lesson = get_object_or_404(Lesson.objects.select_related("course", "current_version"), pk=pk)
        back = reverse("admin:lessons_lesson_change", args=[pk])
        if request.method != "POST" or not self.has_change_permission(request, lesson):
            return redirect(back)
        if not request.user.email:
            messages.error(request, "Your admin user has no email address: add one to receive tests.")
            return redirect(back)
        version = lesson.current_version
        subject = request.POST.get("subject") or (version.subject if version else "")
        body = request.POST.get("body") or (version.body if version else "")
        send_test(lesson, subject, body, request.user.email)
        messages.success(request, f"Test sent to {request.user.email}.")
        return redirect(back)

    def course_map_view(self, request: HttpRequest) -> HttpResponse:
        courses = list(Course.objects.all())
        chosen = next((c for c in courses if c.slug == request.GET.get("course")), courses[0] if courses else None)
        context = {**self.admin_site.each_context(request), "title": "Course map", "courses": courses,
                   "chosen": chosen, "opts": self.model._meta}  # fmt: skip
        if chosen is not None:
            catalogue = Catalogue.load()
            result = course_map(catalogue.rules[chosen.pk], catalogue.lessons.get(chosen.pk, []))
            gaps = result.gap_cells()
            months = list(range(1, result.months + 1))
            context["months"] = months
            context["gap_count"] = len(result.gaps)
            context["tables"] = [
                {
                    "destination": destination.label,
                    "rows": [
                        {
                            "stage": stage.label,
                            "cells": [
                                {"count": result.counts[(m, stage.value, destination.value)],
                                 "gap": (m, stage.value, destination.value) in gaps}
                                for m in months
                            ],
                        }
                        for stage in Stage
                    ],
                }
                for destination in Destination
            ]  # fmt: skip
        return TemplateResponse(request, "admin/lessons/lesson/course_map.html", context)


@admin.register(LessonVersion)
class LessonVersionAdmin(admin.ModelAdmin):
    list_display = ["lesson", "number", "subject", "created_at"]
    list_filter = ["lesson__course"]
    search_fields = ["lesson__slug", "subject"]
    readonly_fields = ["lesson", "number", "subject", "body", "created_at"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
