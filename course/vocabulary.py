"""The words of the product (DESIGN.md): stages, destinations, the reader profile and lesson kinds."""

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


class Profession(models.TextChoices):
    """The reader's licensed profession (intake)."""

    PHYSICIAN = "physician", "Physician"
    NP = "np", "Nurse practitioner"
    PA = "pa", "Physician assistant"
    RN = "rn", "Registered nurse"
    PHARMACIST = "pharmacist", "Pharmacist"
    OTHER = "other", "Other licensed clinician"


class LicensePlan(models.TextChoices):
    """What the reader means to do with their clinical license after the move (intake question 3)."""

    KEEP = "keep", "Keep it active"
    LET_GO = "let-go", "Let it lapse"
    UNSURE = "unsure", "Not decided"


class PayNeed(models.TextChoices):
    """What the reader's household needs them to earn (intake question 4)."""

    MATCH = "match", "We need my current pay, or close to it"
    MODEST_DROP = "modest-drop", "We can absorb a modest drop for a while"
    FLEXIBLE = "flexible", "Pay is not the deciding factor"
    UNSURE = "unsure", "I haven't worked out the number yet"


class Kind(models.TextChoices):
    WELCOME = "welcome", "Welcome"
    LESSON = "lesson", "Lesson"
    CHECKIN = "checkin", "Check-in"
    MILESTONE = "milestone", "Milestone"
    COMPLETION = "completion", "Completion"
