"""The invoice list's filter (a GET form: status and period)."""

from __future__ import annotations

from django import forms

STATUS_CHOICES = [
    ("", "Any status"),
    ("draft", "Draft"),
    ("finalized", "Issued"),
    ("paid", "Paid"),
    ("void", "Void"),
]


class InvoiceFilterForm(forms.Form):
    status = forms.ChoiceField(choices=STATUS_CHOICES, required=False, label="Status")
    period = forms.ChoiceField(choices=[("", "Any period")], required=False, label="Period")

    def __init__(self, *args: object, periods: list[str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        field = self.fields["period"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", "Any period"), *((key, key) for key in periods)]


class ShareLinkForm(forms.Form):
    days = forms.IntegerField(min_value=1, max_value=90, initial=14, label="Valid for (days)")
