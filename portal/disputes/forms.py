"""Forms of the disputes pages. They only shape input; the rules (who may do what, which invoice, the
attachment's size and type) are the services' (ledger/services/disputes.py)."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.conf import settings

from ledger.models import Dispute

MESSAGE_MAX = 5000


class DisputeOpenForm(forms.Form):
    reason = forms.ChoiceField(choices=[("", "Choose a reason"), *Dispute.Reason.choices], label="Reason")
    message = forms.CharField(
        label="What is wrong",
        max_length=MESSAGE_MAX,
        widget=forms.Textarea(attrs={"rows": 6, "cols": 60}),
        help_text="Tell us what you expected and what you see on the invoice.",
    )
    attachment = forms.FileField(
        label="Attachment (optional)",
        required=False,
        help_text=(
            f"PDF, PNG, JPEG, plain text or CSV, at most "
            f"{settings.DISPUTE_ATTACHMENT_MAX_BYTES // (1024 * 1024)} MB."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".pdf,.png,.jpg,.jpeg,.txt,.csv"}),
    )


class CommentForm(forms.Form):
    message = forms.CharField(
        label="Your message", max_length=MESSAGE_MAX, widget=forms.Textarea(attrs={"rows": 4})
    )


class WithdrawForm(forms.Form):
    message = forms.CharField(label="Why you withdraw it (optional)", max_length=MESSAGE_MAX, required=False)


class DecideForm(forms.Form):
    """Finance's minimal decision: take under review, reject with a reason, or resolve with a credit note."""

    ACTIONS = [
        ("review", "Take under review"),
        ("reject", "Reject"),
        ("resolve", "Resolve with a credit note"),
    ]

    action = forms.ChoiceField(choices=ACTIONS)
    reason = forms.CharField(label="Reason for the customer", max_length=MESSAGE_MAX, required=False)
    amount = forms.DecimalField(
        label="Credit note amount (before tax)",
        required=False,
        min_value=Decimal("0.01"),
        max_digits=18,
        decimal_places=4,
    )
    note = forms.CharField(label="Note for the customer", max_length=MESSAGE_MAX, required=False)

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        action = data.get("action")
        if action == "reject" and not (data.get("reason") or "").strip():
            self.add_error("reason", "A rejection needs a reason.")
        if action == "resolve":
            if data.get("amount") is None:
                self.add_error("amount", "Enter the amount to credit.")
            if not (data.get("note") or "").strip():
                self.add_error("note", "Tell the customer what the credit note is for.")
        return data
