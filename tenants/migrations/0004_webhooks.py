"""Tenants' outbound webhook endpoints and their delivery log."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0003_portal"),
    ]

    operations: list[migrations.operations.base.Operation] = []
