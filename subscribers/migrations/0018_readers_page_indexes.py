from django.db import migrations, models

# The readers page's search (email or first name containing the text: UPPER(...) LIKE '%...%')
# reads these on PostgreSQL; SQLite scans, which is fine at its sizes.
SEARCH_INDEXES = {
    "subscriber_search_email_idx": "email",
    "subscriber_search_name_idx": "first_name",
}


def create_search_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, column in SEARCH_INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON subscribers_subscriber "
            f"USING gin (UPPER({column}::text) gin_trgm_ops)"
        )


def drop_search_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in SEARCH_INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [
        ("subscribers", "0017_daily_rollup"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="subscriber",
            index=models.Index(fields=["-enrolled_at", "-id"], name="subscriber_newest_idx"),
        ),
        migrations.RunPython(create_search_indexes, drop_search_indexes),
    ]
