"""Every ESP's inbound and tracking views routed at once, for the webhook tests (production
routes only the chosen ESP's)."""

from __future__ import annotations

from config.urls import inbound_webhook, tracking_webhook
from config.urls import urlpatterns as product_urls

urlpatterns = [
    *[
        pattern
        for pattern in product_urls
        if not str(getattr(pattern, "name", "") or "").startswith(("inbound-", "tracking-"))
    ],
    *[inbound_webhook(esp) for esp in ("postmark", "mailgun", "amazon_ses")],
    *[tracking_webhook(esp) for esp in ("postmark", "mailgun", "amazon_ses")],
]
