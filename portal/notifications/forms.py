"""Forms of the notifications pages."""

from __future__ import annotations

from django import forms

from ledger.models import Alert
from tenants.webhooks.services import EVENT_TYPES


class EndpointForm(forms.Form):
    url = forms.CharField(label="URL (https://…)", max_length=500)
    description = forms.CharField(label="Description", max_length=200, required=False)
    event_types = forms.MultipleChoiceField(
        label="Events (none ticked: all)",
        choices=[(t, t) for t in EVENT_TYPES],
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )


class AlertFilterForm(forms.Form):
    state = forms.ChoiceField(
        label="State", choices=[("", "Any state"), *Alert.State.choices], required=False
    )
