"""The budget form: amounts are typed as text and validated as Decimal by billing.monitoring.budgets."""

from __future__ import annotations

from django import forms


def split_list(text: str) -> list[str]:
    """ "80, 100" -> ["80", "100"] (blank entries dropped)."""
    return [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]


class BudgetForm(forms.Form):
    amount = forms.CharField(label="Budget per billing period (empty: none)", max_length=32, required=False)
    thresholds_pct = forms.CharField(
        label="Alert at these percentages of the budget (comma-separated)", max_length=100, required=False
    )
    thresholds_money = forms.CharField(
        label="Also alert at these amounts (comma-separated)", max_length=200, required=False
    )
    plan_multiplier = forms.CharField(
        label="Alert when the projection exceeds the plan by this factor", max_length=8, initial="2"
    )
