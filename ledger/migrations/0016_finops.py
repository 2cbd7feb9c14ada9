"""FinOps: reconciliation runs and their deltas, provider FOCUS imports."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0015_alerts"),
    ]

    operations: list[migrations.operations.base.Operation] = []
