# When the reader last told us their stage: the planner follows the calendar until they do.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("subscribers", "0010_reader_profile"),
    ]

    operations = [
        migrations.AddField(
            model_name="subscriber",
            name="stage_reported_at",
            field=models.DateTimeField(
                blank=True,
                help_text="When the reader last told us their stage (empty: they follow the calendar).",
                null=True,
            ),
        ),
    ]
