"""Today's guards of the ledger tables (triggers and their functions), whatever an earlier state installed.

Migrations 0002 and 0003 used to import their SQL from ledger/sql/guards.py, which was rewritten after 0002
ran (balance and invoice-line checks per statement instead of per row), so a database migrated before the
rewrite kept older triggers than a fresh one. They now carry the SQL they ran when they were written, and
this migration reinstalls every ledger guard as it stands: 0004_reinstall_guards.sql (reverse, back to what
0002-0003 install: 0004_reinstall_guards.reverse.sql). A later change of a guard is a new migration with its
own SQL."""

from pathlib import Path

from django.db import migrations

HERE = Path(__file__).resolve().parent


class Migration(migrations.Migration):
    dependencies = [("ledger", "0003_credit_restoration")]

    operations = [
        migrations.RunSQL(
            sql=(HERE / "0004_reinstall_guards.sql").read_text(encoding="utf-8"),
            reverse_sql=(HERE / "0004_reinstall_guards.reverse.sql").read_text(encoding="utf-8"),
        ),
    ]
