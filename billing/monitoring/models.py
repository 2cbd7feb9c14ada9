"""A tenant's budget and the thresholds its alerts fire at (customer-editable at /portal/budgets/)."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

DEFAULT_THRESHOLDS_PCT = (80, 100)


class TenantBudget(models.Model):
    """Per tenant: the period budget (in the tenant's currency; none = only the plan and commitment checks),
    the percentages of it that alert, extra alert thresholds in money, and how far above the plan (the
    commitment of the profile in force, else the budget) the projected spend may go before it alerts."""

    tenant = models.OneToOneField("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    amount = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    thresholds_pct = models.JSONField(
        default=list, blank=True, help_text="percentages of the budget, e.g. [80, 100]"
    )
    thresholds_money = models.JSONField(
        default=list, blank=True, help_text='amounts as strings, e.g. ["5000.00"]'
    )
    plan_multiplier = models.DecimalField(max_digits=6, decimal_places=2, default=Decimal("2"))
    updated_at = models.DateTimeField()
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__isnull=True) | Q(amount__gt=0), name="tenant_budget_amount_positive"
            ),
            models.CheckConstraint(condition=Q(plan_multiplier__gte=1), name="tenant_budget_multiplier_min"),
        ]

    def __str__(self) -> str:
        return f"budget of {self.tenant_id}: {self.amount}"
