# Course time is counted in weekly slots: the paused time kept so far becomes whole paused slots.

from datetime import timedelta

from django.db import migrations, models


def paused_time_to_slots(apps, schema_editor):
    Subscriber = apps.get_model("subscribers", "Subscriber")
    for subscriber in Subscriber.objects.exclude(paused_for=timedelta(0)).only("pk", "paused_for").iterator():
        slots = round(subscriber.paused_for / timedelta(weeks=1))
        Subscriber.objects.filter(pk=subscriber.pk).update(paused_slots=slots)


def paused_slots_to_time(apps, schema_editor):
    Subscriber = apps.get_model("subscribers", "Subscriber")
    for subscriber in Subscriber.objects.exclude(paused_slots=0).only("pk", "paused_slots").iterator():
        Subscriber.objects.filter(pk=subscriber.pk).update(paused_for=timedelta(weeks=subscriber.paused_slots))


class Migration(migrations.Migration):

    dependencies = [
        ("subscribers", "0006_indexes_for_ops"),
    ]

    operations = [
        migrations.AddField(
            model_name="subscriber",
            name="paused_slots",
            field=models.PositiveIntegerField(
                default=0, help_text="Weekly slots spent paused before the current pause (not course time)."
            ),
        ),
        migrations.RunPython(paused_time_to_slots, paused_slots_to_time),
        migrations.RemoveField(model_name="subscriber", name="paused_for"),
    ]
