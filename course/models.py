from __future__ import annotations

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from course.vocabulary import Vocabulary, vocabulary_of


class Course(models.Model):
    """A course: its lessons live in `lessons`, its readers in `subscribers`."""

    slug = models.SlugField(max_length=100, unique=True)
    title = models.CharField(max_length=200)
    tagline = models.CharField(max_length=300, blank=True)
    price = models.DecimalField(max_digits=8, decimal_places=2, default=Decimal("79.00"))
    currency = models.CharField(max_length=3, default="usd")
    length_months = models.PositiveSmallIntegerField(
        default=12, validators=[MinValueValidator(1), MaxValueValidator(36)]
    )
    cadence_days = models.PositiveSmallIntegerField(default=7, help_text="7 = weekly.")
    checkin_interval_weeks = models.PositiveSmallIntegerField(default=4)
    checkin_months = models.JSONField(default=list, blank=True, help_text="Extra check-ins at these months.")
    # The course's own stages and destinations (course.yaml); empty = the built-in vocabulary.
    vocabulary = models.JSONField(default=dict, blank=True)
    # course.yaml exactly as last imported, and the folder's other files lessons are read with
    # (snippets, figures; {relative path: text}), so export writes the folder back byte for byte.
    file_text = models.TextField(blank=True)
    support_files = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title

    @property
    def words(self) -> Vocabulary:
        """The course's own stages and destinations (course.yaml), else the built-in ones."""
        return vocabulary_of(self.vocabulary)

    @property
    def price_cents(self) -> int:
        return int(self.price * 100)
