"""Database-level guards: frozen profile versions and non-overlapping assignments (see billing/sql)."""

from django.db import migrations

from billing.sql import profileversion_guard as sql
from common.db import vendor_sql


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]

    operations = [
        vendor_sql(
            postgresql=sql.PG_TRIGGERS,
            sqlite=sql.SQLITE_TRIGGERS,
            reverse_postgresql=sql.PG_DROP,
            reverse_sqlite=sql.SQLITE_DROP,
        ),
        vendor_sql(
            postgresql=sql.PG_ASSIGNMENT,
            sqlite=sql.SQLITE_ASSIGNMENT,
            reverse_postgresql=sql.PG_ASSIGNMENT_DROP,
            reverse_sqlite=sql.SQLITE_ASSIGNMENT_DROP,
        ),
    ]
