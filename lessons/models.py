from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from course.models import Course
from course.vocabulary import ANY, Kind, Stage

STAGE_OR_ANY = [*Stage.choices, (ANY, "Any stage")]


def any_value() -> list[str]:
    return [ANY]


class Lesson(models.Model):
    """One email of a course. Targeting lives here; what is sent lives in its versions."""

    course = models.ForeignKey(Course, on_delete=models.PROTECT, related_name="lessons")
    slug = models.SlugField(max_length=100)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.LESSON)
    stage = models.CharField(max_length=20, choices=STAGE_OR_ANY, default=ANY)
    destinations = models.JSONField(default=list, help_text='Destination slugs, or ["any"].')
    month = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(12)], help_text="Earliest course month."
    )
    order = models.IntegerField(default=0)
    # Targeting by the reader profile: each a list of values, or ["any"]; `not_for` lists destinations left out.
    professions = models.JSONField(default=any_value, blank=True, help_text='Profession slugs, or ["any"].')
    license_plans = models.JSONField(default=any_value, blank=True, help_text='License plans, or ["any"].')
    pay_needs = models.JSONField(default=any_value, blank=True, help_text='Pay needs, or ["any"].')
    not_for = models.JSONField(default=list, blank=True, help_text="Destinations this lesson is never sent to.")
    essential_by = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(12)],
        help_text="Essential: every reader it fits gets it by this course month, ahead of ordinary lessons.",
    )  # fmt: skip
    trigger_stage = models.CharField(
        max_length=20, choices=Stage.choices, blank=True,
        help_text="A reader who reports this stage gets the lesson next (e.g. negotiation on interviewing).",
    )  # fmt: skip
    current_version = models.ForeignKey(
        "LessonVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The lesson's file as last imported (name, SHA-256 of its bytes, its exact text): import
    # compares against it, and export writes it back byte for byte while the lesson is unchanged.
    file_name = models.CharField(max_length=200, blank=True)
    file_hash = models.CharField(max_length=64, blank=True)
    file_text = models.TextField(blank=True)
    file_version = models.ForeignKey(
        "LessonVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The version whose content the file as last imported holds.",
    )  # fmt: skip
    imported_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(
        null=True, blank=True, help_text="Set when its file was removed: no longer planned; history kept."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["course", "month", "order", "slug"]
        constraints = [models.UniqueConstraint(fields=["course", "slug"], name="lesson_slug_unique_in_course")]

    def __str__(self) -> str:
        return self.slug


class Source(models.TextChoices):
    FILE = "file", "Lesson file"
    ADMIN = "admin", "Admin editor"
    UNRECORDED = "", "Not recorded"


class LessonVersion(models.Model):
    """An immutable subject + markdown body + front matter, and where it came from (a file and
    its hash, or an admin user). Deliveries point at the version they sent."""

    lesson = models.ForeignKey(Lesson, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    subject = models.CharField(max_length=200)
    body = models.TextField(help_text="Markdown.")
    front_matter = models.JSONField(default=dict, blank=True, help_text="Who gets it and when, as in the file.")
    source = models.CharField(max_length=10, choices=Source.choices, blank=True)
    source_file = models.CharField(max_length=200, blank=True)
    source_hash = models.CharField(max_length=64, blank=True)
    edited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["lesson", "-number"]
        constraints = [models.UniqueConstraint(fields=["lesson", "number"], name="lesson_version_number_unique")]

    def __str__(self) -> str:
        return f"{self.lesson.slug} v{self.number}"

    @property
    def provenance(self) -> str:
        """Where this version came from, in a sentence fragment: "file welcome.md (sha256 1a2b3c4d)"."""
        if self.source == Source.FILE:
            return f"file {self.source_file} (sha256 {self.source_hash[:12]})"
        if self.source == Source.ADMIN:
            return f"admin editor, {self.edited_by.get_username() if self.edited_by else 'a deleted user'}"
        return "not recorded (saved before sources were kept)"
