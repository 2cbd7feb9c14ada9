"""Forms of an approval request's page: approve (an optional note) and reject (a reason)."""

from __future__ import annotations

from django import forms


class GrantForm(forms.Form):
    note = forms.CharField(label="Note (optional)", required=False, max_length=2000)


class RejectForm(forms.Form):
    reason = forms.CharField(
        label="Why is it rejected?", max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )
