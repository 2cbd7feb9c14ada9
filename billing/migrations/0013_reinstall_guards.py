"""Today's guards of the billing tables (triggers and their functions), whatever an earlier state installed.

Migrations 0002, 0009, 0011 and 0012 used to import their SQL from billing/sql/, which was rewritten after
they ran, so a database migrated before a rewrite kept older functions than a fresh one. They now carry the
SQL they ran when they were written, and this migration reinstalls every billing guard as it stands:
0013_reinstall_guards.sql (reverse, back to what 0002-0012 install: 0013_reinstall_guards.reverse.sql).
A later change of a guard is a new migration with its own SQL."""

from pathlib import Path

from django.db import migrations

HERE = Path(__file__).resolve().parent


class Migration(migrations.Migration):
    dependencies = [("billing", "0012_usage_event_parent_triggers")]

    operations = [
        migrations.RunSQL(
            sql=(HERE / "0013_reinstall_guards.sql").read_text(encoding="utf-8"),
            reverse_sql=(HERE / "0013_reinstall_guards.reverse.sql").read_text(encoding="utf-8"),
        ),
    ]
