"""Every ESP's inbound view routed at once, for the webhook tests (production routes only the chosen one)."""

from __future__ import annotations

from config.urls import inbound_webhook
from config.urls import urlpatterns as product_urls

urlpatterns = [
    *[pattern for pattern in product_urls if not str(getattr(pattern, "name", "") or "").startswith("inbound-")],
    *[inbound_webhook(esp) for esp in ("postmark", "mailgun", "amazon_ses")],
]
