"""Forms of finance's queue pages. They shape input only; the rules (who decides, how much is left to
credit, which events may be re-attributed) are the services'."""

from __future__ import annotations

from decimal import Decimal

from django import forms

from ledger.models import Dispute
from ledger.services.disputes import MESSAGE_MAX_CHARS, CreditableLine

STATUS_FILTERS = [
    ("active", "Open or under review"),
    *Dispute.Status.choices,
    ("all", "All"),
]


class QueueFilterForm(forms.Form):
    status = forms.ChoiceField(choices=STATUS_FILTERS, required=False, label="Status")

    def statuses(self) -> list[str]:
        wanted = (self.cleaned_data.get("status") if self.is_valid() else "") or "active"
        if wanted == "all":
            return []
        if wanted == "active":
            return [str(s) for s in Dispute.OPEN_STATUSES]
        return [wanted]


class DecisionForm(forms.Form):
    """One decision: take under review, accept in full, accept in part (an amount, or chosen lines whose
    amounts come as `line_<id>` fields, see `chosen_lines`), or reject with a reason."""

    ACTIONS = [
        ("review", "Take under review"),
        ("full", "Accept in full"),
        ("amount", "Accept in part: an amount"),
        ("lines", "Accept in part: chosen lines"),
        ("reject", "Reject"),
    ]

    action = forms.ChoiceField(choices=ACTIONS)
    amount = forms.DecimalField(
        label="Amount to credit, before tax",
        required=False,
        min_value=Decimal("0.01"),
        max_digits=18,
        decimal_places=4,
    )
    note = forms.CharField(label="Note for the customer", max_length=MESSAGE_MAX_CHARS, required=False)
    reason = forms.CharField(
        label="Reason for the rejection", max_length=MESSAGE_MAX_CHARS, required=False, widget=forms.Textarea
    )

    def __init__(self, *args: object, lines: list[CreditableLine], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.creditable = lines
        for c in lines:
            self.fields[f"line_{c.line.pk}"] = forms.DecimalField(
                label=f"Credit on line {c.line.position}",
                required=False,
                min_value=Decimal("0.01"),
                max_digits=18,
                decimal_places=4,
            )

    def chosen_lines(self) -> list[tuple[int, Decimal]]:
        return [
            (c.line.pk, self.cleaned_data[f"line_{c.line.pk}"])
            for c in self.creditable
            if self.cleaned_data.get(f"line_{c.line.pk}") is not None
        ]

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        action = data.get("action")
        if action == "reject" and not str(data.get("reason") or "").strip():
            self.add_error("reason", "A rejection needs a reason.")
        if action in {"full", "amount", "lines"} and not str(data.get("note") or "").strip():
            self.add_error("note", "Tell the customer what the credit note is for.")
        if action == "amount" and data.get("amount") is None:
            self.add_error("amount", "Enter the amount to credit.")
        if action == "lines" and not self.errors and not self.chosen_lines():
            self.add_error(None, "Enter an amount on at least one line.")
        return data


class ReattributeForm(forms.Form):
    """A reason group (with the SKU code and tenant slug it was narrowed to) or chosen events, and what
    they are attributed to: a customer (by slug), a SKU (by code), a project (by code), any of the three."""

    reason = forms.CharField(required=False, max_length=64)
    sku_code = forms.CharField(required=False, max_length=64)
    tenant_slug = forms.CharField(required=False, max_length=64)
    events = forms.TypedMultipleChoiceField(coerce=int, required=False, choices=[])
    target_tenant = forms.CharField(label="Customer (slug)", max_length=64, required=False)
    target_sku = forms.CharField(label="SKU code", max_length=64, required=False)
    target_project = forms.CharField(label="Project code", max_length=64, required=False)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        field = self.fields["events"]
        assert isinstance(field, forms.TypedMultipleChoiceField)
        field.valid_value = lambda value: str(value).isdigit()  # type: ignore[method-assign]

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if not data.get("events") and not data.get("reason"):
            raise forms.ValidationError("Choose a reason group or some events.")
        if not any(str(data.get(k) or "").strip() for k in ("target_tenant", "target_sku", "target_project")):
            raise forms.ValidationError("Give the customer, the SKU or the project to attribute them to.")
        return data
