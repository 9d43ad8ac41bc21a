from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Make sure a Django admin user exists on this machine: creates `admin` with a random password "
        "(kept in var/admin-password.txt) when there is no superuser yet, and prints the login."
    )

    def handle(self, *args, **options) -> None:
        password_file = settings.VAR_DIR / "admin-password.txt"
        user_model = get_user_model()
        if not user_model.objects.filter(is_superuser=True).exists():
            password = secrets.token_urlsafe(12)
            user_model.objects.create_superuser("admin", "admin@localhost", password)
            password_file.write_text(password + "\n")
            password_file.chmod(0o600)
        if password_file.exists():
            self.stdout.write(f"admin login: admin / {password_file.read_text().strip()}")
        else:
            self.stdout.write("admin login: an existing superuser (createsuperuser to add another)")
