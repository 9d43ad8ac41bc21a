"""The intake form at /start/: who the reader is and their answers to the four questions."""

from __future__ import annotations

from django import forms
from django.conf import settings

from course.models import Course
from course.schedule import available_time_zones
from course.vocabulary import Destination
from subscribers.models import Signup
from subscribers.readers.course_time import hour_label


class IntakeForm(forms.ModelForm):
    time_zone = forms.ChoiceField(
        label="Your time zone",
        help_text="Filled in from your browser; change it if it is wrong.",
        error_messages={"required": "Choose your time zone, so lessons arrive at your hour, not ours."},
    )
    send_hour = forms.TypedChoiceField(
        label="When should the weekly email arrive?",
        coerce=int,
        choices=[(hour, hour_label(hour)) for hour in range(24)],
        initial=lambda: settings.DEFAULT_SEND_HOUR,
        help_text="Your local time, once a week.",
        error_messages={"required": "Choose the hour your email should arrive."},
    )

    class Meta:
        model = Signup
        fields = [
            "email",
            "first_name",
            "profession",
            "specialty",
            "leaving",
            "destination",
            "license",
            "pay_need",
            "time_zone",
            "send_hour",
        ]
        labels = {
            "email": "Email address",
            "first_name": "First name",
            "profession": "Your profession",
            "specialty": "Current role and specialty",
            "leaving": "What are you leaving?",
            "destination": "Which destination are you considering?",
            "license": "Your clinical license after the move",
            "pay_need": "What does your household need you to earn?",
        }
        help_texts = {
            "email": "Where the course arrives. We send nothing else.",
            "profession": "Lessons, examples and pay comparisons start from your own profession.",
            "specialty": "For example: ICU nurse, family medicine physician, hospital pharmacist, emergency PA.",
            "leaving": "Question 1. These are different problems with different fixes.",
            "destination": "Question 2. Pick the one you lean towards; you can switch later by replying to any email.",
            "license": "Question 3. Letting it lapse is a one-way door for most specialties.",
            "pay_need": "Question 4. Your specialty's own pay, not the average clinician's, sets what is realistic.",
        }
        widgets = {
            "email": forms.EmailInput(attrs={"autocomplete": "email", "inputmode": "email"}),
            "first_name": forms.TextInput(attrs={"autocomplete": "given-name"}),
            "profession": forms.RadioSelect,
            "specialty": forms.TextInput(attrs={"autocomplete": "organization-title"}),
            "leaving": forms.RadioSelect,
            "license": forms.RadioSelect,
            "pay_need": forms.RadioSelect,
        }
        error_messages = {
            "email": {
                "required": "Enter your email address.",
                "invalid": "Enter an email address like name@example.com.",
            },
            "first_name": {"required": "Enter your first name."},
            "profession": {"required": "Choose your profession, or 'other licensed clinician'."},
            "specialty": {"required": "Tell us your current role and specialty."},
            "leaving": {"required": "Choose what you are leaving, or 'not sure yet'."},
            "destination": {"required": "Choose a destination, or 'undecided'."},
            "license": {"required": "Choose what happens to your license, or 'not decided'."},
            "pay_need": {"required": "Choose what your household needs, or 'haven't worked it out'."},
        }

    def __init__(self, *args, course: Course, **kwargs) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.course = course
        self.fields["time_zone"].choices = [("", "Choose…")] + [
            (name, name.replace("_", " "))
            for name in sorted(available_time_zones())
            if name == "UTC" or ("/" in name and not name.startswith(("posix/", "right/")))
        ]
        # Question 2 lists the course's own tracks (course.yaml); question 1 decides `change-setting`.
        words = course.words
        undecided = words.destination(Destination.UNDECIDED).label
        self.fields["destination"].choices = [(Destination.UNDECIDED, f"{undecided}: help me choose")] + [
            (item.slug, item.label)
            for item in words.destinations
            if item.slug not in (Destination.CHANGE_SETTING, Destination.UNDECIDED)
        ]
        self.fields["profession"].required = True
        for field in ("profession", "leaving", "license", "pay_need"):
            self.fields[field].choices = [c for c in self.fields[field].choices if c[0]]

    def _get_validation_exclusions(self):
        # The destination is one of the course's own tracks (checked by the choices above), not
        # only the built-in ones the model lists.
        return {*super()._get_validation_exclusions(), "destination"}

    def clean_email(self) -> str:
        # An address already enrolled is not named on the page (anyone could test addresses):
        # the view answers as for anyone, and checkout.tell_if_enrolled emails the address instead.
        return self.cleaned_data["email"].strip().lower()

    def clean_first_name(self) -> str:
        return " ".join(self.cleaned_data["first_name"].split())

    def clean_specialty(self) -> str:
        return " ".join(self.cleaned_data["specialty"].split())
