"""Database guards of the ledger: append-only journal, balanced transactions (deferred, PostgreSQL),
immutable issued invoices and lines, credit-note limits. SQL in ledger/sql/guards.py."""

from django.db import migrations

from common.db import vendor_sql
from ledger.sql import guards


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]

    operations = [
        vendor_sql(
            postgresql=guards.PG_FORWARD,
            sqlite=guards.SQLITE_FORWARD,
            reverse_postgresql=guards.PG_REVERSE,
            reverse_sqlite=guards.SQLITE_REVERSE,
        ),
    ]
