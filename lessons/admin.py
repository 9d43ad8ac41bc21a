from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from course.coverage import course_map
from course.models import Course
from course.vocabulary import ANY, Destination, builtin_vocabulary
from lessons import history, sections, suggest
from lessons.catalogue import Catalogue
from lessons.files import placeholder_problem
from lessons.importing import add_version, lesson_as_file, lesson_file_of
from lessons.models import Lesson, LessonVersion, Source
from lessons.previews import render_draft, send_test
from lessons.rendering import LESSON_LINK_RE, LINK_SAFE, PLACEHOLDERS, unknown_placeholders, unsafe_placeholders


def draft_problems(body: str, destinations: list[str] | None = None) -> list[str]:
    """What the editor refuses besides unknown placeholders: a reader's answer inside a link's
    address, and unsound `::: for` sections (each with its line)."""
    found = [f"Placeholder {name} inside a link address: only {' and '.join(LINK_SAFE)} may stand there."
             for name in sorted(unsafe_placeholders(body))]  # fmt: skip
    found += [f"Line {line + 1}: {message}." for line, message in suggest.url_problems(body)]
    return found + [f"Line {line + 1}: {message}." for line, message in sections.problems(body, destinations)]


def draft_key(pk: int) -> str:
    return f"lesson-draft-{pk}"


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
        # The course's own tracks (its vocabulary), with any a lesson already names kept choosable.
        course = self.instance.course if self.instance.pk else None
        words = course.words if course else builtin_vocabulary()
        named = [
            (slug, slug) for slug in self.instance.destinations or [] if slug != ANY and not words.has_destination(slug)
        ]
        self.fields["destinations"].choices = [(ANY, "Any destination"), *words.destination_choices(), *named]

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
            hints = [suggest.did_you_mean(name, PLACEHOLDERS) for name in sorted(unknown)]
            hint = " ".join(
                f"{name}: {h[0].upper()}{h[1:]}" for name, h in zip(sorted(unknown), hints, strict=True) if h
            )
            raise forms.ValidationError(
                f"Unknown placeholder: {', '.join(sorted(unknown))}." + (f" {hint}" if hint else "")
            )
        course = cleaned.get("course")
        problems = draft_problems(cleaned.get("body", ""), course.words.destination_values if course else None)
        if problems:
            raise forms.ValidationError(problems)
        course = cleaned.get("course")
        links = set(LESSON_LINK_RE.findall(cleaned.get("body", "")))
        if course and links:
            known = set(Lesson.objects.filter(course=course, slug__in=links).values_list("slug", flat=True))
            if links - known:
                every = Lesson.objects.filter(course=course).values_list("slug", flat=True)
                hints = " ".join(filter(None, (suggest.did_you_mean(slug, every) for slug in sorted(links - known))))
                raise forms.ValidationError(
                    f"Link to unknown lesson: {', '.join(sorted(links - known))}. {hints}".strip()
                )
        return cleaned


class LessonVersionInline(admin.TabularInline):
    model = LessonVersion
    fields = ["number", "subject", "created_at", "provenance", "sent"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = "History (every version; deliveries keep the version they sent)"

    @admin.display(description="deliveries")
    def sent(self, version: LessonVersion) -> str:
        count = version.deliveries.count()
        if not count:
            return "0"
        url = reverse("admin:subscribers_delivery_changelist") + f"?version__id__exact={version.pk}"
        return format_html('<a href="{}">{} deliver{}</a>', url, count, "y" if count == 1 else "ies")

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Lesson)
class LessonAdmin(admin.ModelAdmin):
    form = LessonForm
    change_form_template = "admin/lessons/lesson/change_form.html"
    change_list_template = "admin/lessons/lesson/change_list.html"
    list_display = ["slug", "subject", "course", "kind", "stage", "month", "order", "version", "live"]
    list_filter = ["course", "kind", "stage", "month", ("retired_at", admin.EmptyFieldListFilter)]
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

    @admin.display(description="planned", boolean=True)
    def live(self, lesson: Lesson) -> bool:
        return lesson.retired_at is None

    @admin.display(description="version")
    def version(self, lesson: Lesson) -> str:
        return f"v{lesson.current_version.number}" if lesson.current_version else "-"

    @transaction.atomic
    def save_model(self, request, obj: Lesson, form: LessonForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        request.session.pop(draft_key(obj.pk), None)
        subject, body = form.cleaned_data["subject"], form.cleaned_data["body"].replace("\r\n", "\n")
        current = obj.current_version
        front_matter = lesson_file_of(obj).front_matter()
        if current is None or (current.subject, current.body, current.front_matter) != (subject, body, front_matter):
            version = add_version(obj, subject, body, front_matter=front_matter, source=Source.ADMIN,
                                  edited_by=request.user)  # fmt: skip
            if current is not None:
                messages.info(
                    request,
                    f"Saved as version {version.number}; version {current.number} is kept. Importing the lesson "
                    f"files will not replace this edit (it refuses, naming the lesson) unless forced: download "
                    f"the file below to put the edit in {obj.file_name or obj.slug + '.md'}.",
                )

    def get_urls(self):
        view = self.admin_site.admin_view
        own = [
            path("<int:pk>/preview/", view(self.preview_view), name="lessons_lesson_preview"),
            path("<int:pk>/send-test/", view(self.send_test_view), name="lessons_lesson_send_test"),
            path("<int:pk>/file/", view(self.file_view), name="lessons_lesson_file"),
            path("<int:pk>/history/", view(self.history_view), name="lessons_lesson_history"),
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
        refused = draft_problems(body, lesson.course.words.destination_values)
        return JsonResponse(
            {"subject": rendered.subject, "html": rendered.html, "text": rendered.text,
             "problems": [placeholder_problem(name) for name in sorted(unknown)] + refused}
        )  # fmt: skip

    def send_test_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Send the subject and body as they are in the editor, saved or not. The editor's script
        asks for JSON and stays on the page; without it the draft is kept for the editor to show
        again after the redirect, so an unsaved edit is never lost."""
        lesson = get_object_or_404(Lesson.objects.select_related("course", "current_version"), pk=pk)
        back = reverse("admin:lessons_lesson_change", args=[pk])
        wants_json = "application/json" in request.headers.get("Accept", "")
        if request.method != "POST" or not self.has_change_permission(request, lesson):
            return JsonResponse({"error": "POST a subject and body"}, status=405) if wants_json else redirect(back)
        version = lesson.current_version
        subject = request.POST.get("subject") or (version.subject if version else "")
        body = request.POST.get("body") or (version.body if version else "")
        unsaved = version is None or (subject, body.replace("\r\n", "\n")) != (version.subject, version.body)
        if unsaved and not wants_json:
            request.session[draft_key(pk)] = {"subject": subject, "body": body}
        if not request.user.email:
            message, ok = "Your admin user has no email address: add one to receive tests.", False
        else:
            send_test(lesson, subject, body, request.user.email)
            message, ok = f"Test sent to {request.user.email}.", True
        if wants_json:
            return JsonResponse({"ok": ok, "message": message}, status=200 if ok else 400)
        (messages.success if ok else messages.error)(request, message)
        return redirect(back)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        draft = request.session.pop(draft_key(obj.pk), None) if obj is not None and request.method == "GET" else None
        if not draft:
            return form

        class WithDraft(form):
            def __init__(self, *args, **kw) -> None:
                super().__init__(*args, **kw)
                self.fields["subject"].initial, self.fields["body"].initial = draft["subject"], draft["body"]

        messages.warning(request, "Your unsaved edit (the one sent as a test) is still in the editor: save to keep it.")
        return WithDraft

    def history_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Every version with its source and deliveries; the difference between any two."""
        lesson = get_object_or_404(Lesson.objects.select_related("course", "current_version"), pk=pk)
        if not self.has_view_permission(request, lesson):
            return redirect(reverse("admin:lessons_lesson_changelist"))
        rows = history.versions_with_deliveries(lesson)
        by_number = {row.version.number: row.version for row in rows}
        newest = rows[0].version.number if rows else 0

        def number(name: str, default: int) -> int:
            value = request.GET.get(name, "")
            return int(value) if value.isdigit() and int(value) in by_number else default

        new = number("new", newest)
        old = number("old", max(1, new - 1))
        context = {
            **self.admin_site.each_context(request), "title": f"History of {lesson.slug}", "lesson": lesson,
            "opts": self.model._meta, "rows": rows, "old": by_number.get(old), "new": by_number.get(new),
            "parts": history.compare(by_number[old], by_number[new]) if old in by_number and new in by_number else [],
        }  # fmt: skip
        return TemplateResponse(request, "admin/lessons/lesson/history.html", context)

    def file_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The current version as its markdown file (the imported file byte for byte while unchanged)."""
        lesson = get_object_or_404(Lesson.objects.select_related("current_version"), pk=pk)
        if not self.has_view_permission(request, lesson) or lesson.current_version is None:
            return redirect(reverse("admin:lessons_lesson_changelist"))
        response = HttpResponse(lesson_as_file(lesson).encode("utf-8"), content_type="text/markdown; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{lesson.slug}.md"'
        return response

    def course_map_view(self, request: HttpRequest) -> HttpResponse:
        courses = list(Course.objects.all())
        chosen = next((c for c in courses if c.slug == request.GET.get("course")), courses[0] if courses else None)
        context = {**self.admin_site.each_context(request), "title": "Course map", "courses": courses,
                   "chosen": chosen, "opts": self.model._meta}  # fmt: skip
        if chosen is not None:
            catalogue = Catalogue.load()
            words = chosen.words
            result = course_map(
                catalogue.rules[chosen.pk], catalogue.lessons.get(chosen.pk, []), words.destination_values
            )
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
                                {"count": result.counts[(m, stage.slug, destination.slug)],
                                 "gap": (m, stage.slug, destination.slug) in gaps}
                                for m in months
                            ],
                        }
                        for stage in words.stages
                    ],
                }
                for destination in words.destinations
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
