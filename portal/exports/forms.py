"""The FOCUS download form: a month and a format (finance also picks one tenant or all)."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.core.validators import RegexValidator

from ledger.exports.focus_writers import FORMATS

MONTH = RegexValidator(r"^\d{4}-(0[1-9]|1[0-2])$", "Pick a month (YYYY-MM).")


class FocusExportForm(forms.Form):
    period = forms.CharField(
        label="Billing period (month)",
        max_length=7,
        validators=[MONTH],
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
