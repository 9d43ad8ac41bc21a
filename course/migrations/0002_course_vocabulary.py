from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("course", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="course",
            name="file_text",
            field=models.TextField(blank=True),
        ),
        migrations.AddField(
            model_name="course",
            name="support_files",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="course",
            name="vocabulary",
            field=models.JSONField(blank=True, default=dict),
        ),
    ]
