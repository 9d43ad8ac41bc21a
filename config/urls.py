from __future__ import annotations

from django.contrib import admin
from django.urls import path

from subscribers import outbox_views, signup_views, views

admin.site.site_header = "Pivot Path"
admin.site.site_title = "Pivot Path admin"
admin.site.index_title = "Courses, lessons and readers"

urlpatterns = [
    path("", views.home, name="home"),
    path("start/", signup_views.start, name="start"),
    path("checkout/local/<uuid:reference>/", signup_views.local_checkout, name="local-checkout"),
    path("welcome/", signup_views.welcome, name="welcome"),
    path("stripe/webhook/", signup_views.stripe_webhook, name="stripe-webhook"),
    path("admin/", admin.site.urls),
    path("dev/outbox/", outbox_views.outbox, name="outbox"),
    path("dev/outbox/<int:pk>/", outbox_views.outbox_message, name="outbox-message"),
]
