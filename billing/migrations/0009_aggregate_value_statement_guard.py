"""The unique_count values' tie to their aggregate row, checked once per statement (see billing/sql)."""

from django.db import migrations

from billing.sql import aggregate_guard as sql
from common.db import vendor_sql


class Migration(migrations.Migration):
    dependencies = [("billing", "0008_aggregate_hot_updates")]

    operations = [vendor_sql(postgresql=sql.PG_GUARDS, reverse_postgresql=sql.PG_DROP)]
