"""Budgets and commitments alert thresholds: TenantBudget (billing/monitoring/models.py)."""

from decimal import Decimal

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0020_approval_quorum_guards"),
        ("tenants", "0003_portal"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="TenantBudget",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("amount", models.DecimalField(blank=True, decimal_places=4, max_digits=18, null=True)),
                (
                    "thresholds_pct",
                    models.JSONField(
                        blank=True, default=list, help_text="percentages of the budget, e.g. [80, 100]"
                    ),
                ),
                (
                    "thresholds_money",
                    models.JSONField(
                        blank=True, default=list, help_text='amounts as strings, e.g. ["5000.00"]'
                    ),
                ),
                (
                    "plan_multiplier",
                    models.DecimalField(decimal_places=2, default=Decimal("2"), max_digits=6),
                ),
                ("updated_at", models.DateTimeField()),
                (
                    "tenant",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="tenants.tenant"
                    ),
                ),
                (
                    "updated_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("amount__isnull", True), ("amount__gt", 0), _connector="OR"),
                        name="tenant_budget_amount_positive",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("plan_multiplier__gte", 1)), name="tenant_budget_multiplier_min"
                    ),
                ],
            },
        ),
    ]
