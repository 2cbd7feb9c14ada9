"""Chargeback and showback: versioned allocation rules."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0021_monitoring"),
    ]

    operations: list[migrations.operations.base.Operation] = []
