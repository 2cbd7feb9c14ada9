"""Budgets and commitments alert thresholds, spend-anomaly state."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0020_approval_quorum_guards"),
    ]

    operations: list[migrations.operations.base.Operation] = []
