"""Database guards of the ledger: append-only journal, balanced transactions (deferred), immutable issued
invoices and lines, credit-note limits.

The SQL is this migration's own, frozen as it ran when the migration was written: 0002_database_guards.sql
(reverse: 0002_database_guards.reverse.sql). Today's guards: 0004_reinstall_guards."""

from pathlib import Path

from django.db import migrations

HERE = Path(__file__).resolve().parent


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]

    operations = [
        migrations.RunSQL(
            sql=(HERE / "0002_database_guards.sql").read_text(encoding="utf-8"),
            reverse_sql=(HERE / "0002_database_guards.reverse.sql").read_text(encoding="utf-8"),
        ),
    ]
