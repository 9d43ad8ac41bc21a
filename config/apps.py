from __future__ import annotations

from django.apps import AppConfig


class PivotPathConfig(AppConfig):
    """The project itself, installed so that its system checks are registered."""

    name = "config"
    label = "pivotpath"
    verbose_name = "Pivot Path"

    def ready(self) -> None:
        from config import checks  # noqa: F401  (registers the checks)
