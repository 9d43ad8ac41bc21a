"""The words of the product (DESIGN.md): stages, destinations and lesson kinds."""

from __future__ import annotations

from django.db import models

ANY = "any"


class Stage(models.TextChoices):
    """Where the reader says they are, in order; readers reply with the number."""

    DECIDING = "deciding", "Deciding"
    CONVERSATIONS = "conversations", "Conversations"
    SEARCHING = "searching", "Searching"
    INTERVIEWING = "interviewing", "Interviewing"
    LANDED = "landed", "Landed"

    @property
    def number(self) -> int:
        return list(Stage).index(self) + 1

    @classmethod
    def from_number(cls, number: int) -> Stage:
        return list(cls)[number - 1]


class Destination(models.TextChoices):
    """The track the reader chose."""

    UNDECIDED = "undecided", "Undecided"
    HEALTH_TECH_PRODUCT = "health-tech-product", "Health tech product"
    MEDICAL_AFFAIRS = "medical-affairs", "Medical affairs"
    PAYER = "payer", "Payer"
    CONSULTING = "consulting", "Consulting"
    CLINICAL_INFORMATICS = "clinical-informatics", "Clinical informatics"
    REGULATORY_AFFAIRS = "regulatory-affairs", "Regulatory affairs"
    CLINICAL_LEADERSHIP = "clinical-leadership", "Clinical leadership"
    CHANGE_SETTING = "change-setting", "Change setting (stay in direct care)"


class Kind(models.TextChoices):
    WELCOME = "welcome", "Welcome"
    LESSON = "lesson", "Lesson"
    CHECKIN = "checkin", "Check-in"
    MILESTONE = "milestone", "Milestone"
    COMPLETION = "completion", "Completion"
