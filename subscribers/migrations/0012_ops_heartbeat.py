from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("subscribers", "0011_subscriber_stage_reported_at"),
    ]

    operations = [
        migrations.CreateModel(
            name="Heartbeat",
            fields=[
                ("name", models.CharField(max_length=200, primary_key=True, serialize=False)),
                ("at", models.DateTimeField()),
                ("detail", models.JSONField(blank=True, default=dict)),
            ],
        ),
    ]
