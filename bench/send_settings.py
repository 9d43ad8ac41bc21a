"""Settings for bench/send.py: the product's, plus django-post-office (a dev-only dependency,
installed for the comparison) sending through the same SMTP sink."""

from __future__ import annotations

from config.settings import *  # noqa: F403
from config.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "post_office"]
POST_OFFICE = {"BACKENDS": {"default": "django.core.mail.backends.smtp.EmailBackend"}}
