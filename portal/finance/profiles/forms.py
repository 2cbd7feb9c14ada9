"""Forms of the price-list pages: a draft (its YAML document and when it takes effect, in UTC) and a
submission for approval (how many closed periods the backtest re-prices)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django import forms

DATETIME_LOCAL = "%Y-%m-%dT%H:%M"


class UtcDateTimeField(forms.CharField):
    """A `datetime-local` input read as UTC (the page says so): browsers send no offset."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_LOCAL)

    def to_python(self, value: Any) -> datetime | None:  # type: ignore[override]
        text = super().to_python(value)
        if not text:
            return None
        for pattern in (DATETIME_LOCAL, DATETIME_LOCAL + ":%S"):
            try:
                return datetime.strptime(text, pattern).replace(tzinfo=UTC)
            except ValueError:
                continue
        raise forms.ValidationError("Enter a date and time, e.g. 2026-12-01T00:00 (UTC).")

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, datetime):
            return value.astimezone(UTC).strftime(DATETIME_LOCAL)
        return value


class DraftForm(forms.Form):
    document = forms.CharField(
        label="Profile document (YAML)",
        widget=forms.Textarea(attrs={"rows": 30, "cols": 80, "spellcheck": "false", "class": "yaml"}),
        strip=False,
    )
    effective_from = UtcDateTimeField(label="Takes effect from (UTC)")


class SubmitForm(forms.Form):
    periods = forms.TypedChoiceField(
        label="Backtest over the last closed periods",
        choices=[(n, str(n)) for n in range(1, 13)],
        coerce=int,
        initial=1,
    )
