# The audit vocabulary becomes one TextChoices (Event.What) with one naming convention.

from django.db import migrations, models

RENAMED = {
    "stage": "stage_changed",
    "destination": "destination_changed",
    "status": "status_changed",
    "timing": "timing_changed",
    "enrolled_at": "fast_forwarded",
    "delivery.cancelled": "delivery_cancelled",
    "delivery.failed": "delivery_failed",
    "paid": "payment_received",
    "paid-again": "payment_repeated",
    "payment-failed": "payment_failed",
    "payment-not-enrolled": "payment_not_enrolled",
    "payment-refunded": "payment_refunded",
    "payment-disputed": "payment_disputed",
    "reply.resolved": "reply_resolved",
    "reply.dismissed": "reply_dismissed",
}


def rename(apps, schema_editor, mapping=RENAMED):
    Event = apps.get_model("subscribers", "Event")
    for old, new in mapping.items():
        Event.objects.filter(what=old).update(what=new)


def rename_back(apps, schema_editor):
    rename(apps, schema_editor, {new: old for old, new in RENAMED.items()})


class Migration(migrations.Migration):

    dependencies = [
        ("subscribers", "0007_subscriber_paused_slots"),
    ]

    operations = [
        migrations.RunPython(rename, rename_back),
        migrations.AlterField(
            model_name="event",
            name="what",
            field=models.CharField(
                choices=[
                    ("enrolled", "Enrolled"),
                    ("stage_changed", "Stage changed"),
                    ("destination_changed", "Destination changed"),
                    ("status_changed", "Status changed"),
                    ("timing_changed", "Weekly time changed"),
                    ("fast_forwarded", "Fast-forwarded (development)"),
                    ("delivery_cancelled", "Email cancelled"),
                    ("delivery_failed", "Email failed"),
                    ("payment_received", "Payment received"),
                    ("payment_repeated", "Paid again (already enrolled)"),
                    ("payment_failed", "Payment failed"),
                    ("payment_not_enrolled", "Paid, nobody enrolled"),
                    ("payment_refunded", "Payment refunded"),
                    ("payment_disputed", "Payment disputed"),
                    ("reply_resolved", "Reply resolved in review"),
                    ("reply_dismissed", "Reply dismissed"),
                ],
                max_length=64,
            ),
        ),
    ]
