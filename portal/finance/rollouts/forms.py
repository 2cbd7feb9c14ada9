"""Forms of the rollouts pages: scheduling a canary (a cohort and its guardrails), and the note or reason
that goes with a promotion or a rollback."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms

from tenants.models import Tenant


class ScheduleForm(forms.Form):
    cohort_kind = forms.ChoiceField(
        label="Cohort",
        choices=[("explicit", "These tenants"), ("percentage", "A percentage of the price list's tenants")],
        widget=forms.RadioSelect,
        initial="explicit",
    )
    tenants = forms.ModelMultipleChoiceField(
        label="Tenants (for a list)", queryset=Tenant.objects.none(), required=False
    )
    percent = forms.DecimalField(
        label="Percentage of tenants (chosen by a stable hash of each tenant)",
        required=False,
        min_value=Decimal("0.01"),
        max_value=Decimal(100),
        decimal_places=2,
    )
    max_bill_change_pct = forms.DecimalField(
        label="Guardrail: largest change of a tenant's estimated bill (%)",
        min_value=Decimal(0),
        decimal_places=2,
        initial=Decimal(10),
    )
    max_disputes = forms.IntegerField(label="Guardrail: disputes the cohort may open", min_value=0, initial=0)

    def __init__(self, *args: Any, tenants: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if tenants is not None:
            field = self.fields["tenants"]
            assert isinstance(field, forms.ModelMultipleChoiceField)
            field.queryset = tenants

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind = data.get("cohort_kind")
        if kind == "explicit" and not data.get("tenants"):
            self.add_error("tenants", "Choose at least one tenant.")
        if kind == "percentage" and data.get("percent") is None:
            self.add_error("percent", "Give a percentage.")
        return data


class DecisionForm(forms.Form):
    reason = forms.CharField(label="Reason (recorded in the audit trail)", required=False, max_length=2000)
