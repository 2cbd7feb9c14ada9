"""The audit trail's filter (GET): object type, action, actor, object id, and a range of UTC days."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any, cast

from django import forms

from ledger.audit.selectors import AuditFilter


class AuditFilterForm(forms.Form):
    object_type = forms.ChoiceField(label="Object type", required=False)
    action = forms.ChoiceField(label="Action", required=False)
    actor = forms.CharField(label="Actor (username or system)", required=False, max_length=150)
    object_id = forms.CharField(label="Object id", required=False, max_length=64)
    since = forms.DateField(
        label="From (UTC day)", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label="To (UTC day, included)", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args: Any, object_types: list[str], actions: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        type_field = cast(forms.ChoiceField, self.fields["object_type"])
        action_field = cast(forms.ChoiceField, self.fields["action"])
        type_field.choices = [("", "Any"), *((t, t) for t in object_types)]
        action_field.choices = [("", "Any"), *((a, a) for a in actions)]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if since and until and until < since:
            self.add_error("until", "The last day is before the first.")
        return data

    def audit_filter(self) -> AuditFilter:
        """The filter the valid form describes (call after is_valid())."""
        data = self.cleaned_data
        since, until = data.get("since"), data.get("until")
        return AuditFilter(
            object_type=data.get("object_type") or "",
            action=data.get("action") or "",
            actor=(data.get("actor") or "").strip(),
            object_id=(data.get("object_id") or "").strip(),
            since=datetime.combine(since, time(), tzinfo=UTC) if since else None,
            until=datetime.combine(until + timedelta(days=1), time(), tzinfo=UTC) if until else None,
        )
