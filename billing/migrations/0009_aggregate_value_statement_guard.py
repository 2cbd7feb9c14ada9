"""The unique_count values' tie to their aggregate row, checked once per statement by triggers.

The SQL is this migration's own, frozen as it ran when the migration was written:
0009_aggregate_value_statement_guard.sql (reverse: 0009_aggregate_value_statement_guard.reverse.sql).
Today's guards: 0013_reinstall_guards."""

from pathlib import Path

from django.db import migrations

HERE = Path(__file__).resolve().parent


class Migration(migrations.Migration):
    dependencies = [("billing", "0008_aggregate_hot_updates")]

    operations = [
        migrations.RunSQL(
            sql=(HERE / "0009_aggregate_value_statement_guard.sql").read_text(encoding="utf-8"),
            reverse_sql=(HERE / "0009_aggregate_value_statement_guard.reverse.sql").read_text(encoding="utf-8"),
        ),
    ]
