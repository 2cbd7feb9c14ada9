"""The FOCUS download form: a month and a format (finance also picks one tenant or all)."""

from __future__ import annotations

from typing import Any, cast

from django import forms

from common.errors import ValidationFailed
from common.periods import parse_period_key
from ledger.exports.focus_writers import FORMATS


def month_key(value: str) -> None:
    """A monthly period key by the one rule (common.periods.parse_period_key); the field is a month."""
    try:
        parse_period_key(value, cycle="monthly")
    except ValidationFailed:
        raise forms.ValidationError("Pick a month (YYYY-MM).", code="invalid") from None


class FocusExportForm(forms.Form):
    period = forms.CharField(
        label="Billing period (month)",
        max_length=7,
        validators=[month_key],
        widget=forms.TextInput(attrs={"type": "month"}),
    )
    format = forms.ChoiceField(
        label="Format",
        choices=[(f, {"csv": "CSV", "parquet": "Parquet"}[f]) for f in FORMATS],
        initial="csv",
        widget=forms.RadioSelect,
    )


class FinanceFocusExportForm(FocusExportForm):
    tenant = forms.ChoiceField(label="Tenant", required=False)

    def __init__(self, *args: Any, tenants: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = cast(forms.ChoiceField, self.fields["tenant"])
        field.choices = [("", "All tenants"), *tenants]
