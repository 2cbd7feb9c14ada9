"""Customer disputes of an invoice (or one of its lines), their timeline, and signed share links to one
invoice. A dispute is opened by the customer and decided by finance: rejected with a reason, or resolved
with a credit note against the invoice (ledger/services/disputes.py). State machine:

    open --finance takes it--> under_review --reject(reason)--> rejected
    open | under_review --credit note--> resolved
    open | under_review --customer withdraws--> withdrawn

Every move is a `DisputeEvent` row (append-only), so the timeline is the history itself."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Dispute(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        UNDER_REVIEW = "under_review", "Under review"
        REJECTED = "rejected", "Rejected"
        RESOLVED = "resolved", "Resolved with a credit note"
        WITHDRAWN = "withdrawn", "Withdrawn"

    OPEN_STATUSES = (Status.OPEN, Status.UNDER_REVIEW)

    class Reason(models.TextChoices):
        WRONG_QUANTITY = "wrong_quantity", "The usage is not what we used"
        WRONG_PRICE = "wrong_price", "The price is not what we agreed"
        DISCOUNT_MISSING = "discount_missing", "A discount or credit is missing"
        DUPLICATE = "duplicate", "Charged twice"
        OTHER = "other", "Something else"

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, related_name="disputes")
    invoice = models.ForeignKey("ledger.Invoice", on_delete=models.PROTECT, related_name="disputes")
    line = models.ForeignKey(
        "ledger.InvoiceLine", on_delete=models.PROTECT, null=True, blank=True, related_name="disputes"
    )
    reason = models.CharField(max_length=24, choices=Reason.choices)
    message = models.TextField()
    attachment = models.CharField(max_length=255, blank=True, help_text="private storage name")
    attachment_name = models.CharField(max_length=255, blank=True)
    attachment_type = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    outcome = models.TextField(blank=True, help_text="finance's answer (a rejection's reason)")
    credit_note = models.ForeignKey(
        "ledger.CreditNote", on_delete=models.PROTECT, null=True, blank=True, related_name="disputes"
    )
    opened_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "status"], name="dispute_tenant_status")]
        constraints = [
            models.CheckConstraint(condition=~Q(message=""), name="dispute_has_message"),
            models.CheckConstraint(
                condition=~Q(status="rejected") | ~Q(outcome=""), name="dispute_rejection_has_reason"
            ),
            models.CheckConstraint(
                condition=~Q(status="resolved") | Q(credit_note__isnull=False),
                name="dispute_resolved_credit_note",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["open", "under_review", "withdrawn"]) | Q(decided_at__isnull=False),
                name="dispute_decided_at",
            ),
        ]

    def __str__(self) -> str:
        return f"dispute {self.pk} on {self.invoice_id}: {self.status}"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES


class DisputeEvent(models.Model):
    """One step of a dispute's timeline (append-only)."""

    class Kind(models.TextChoices):
        OPENED = "opened", "Opened"
        COMMENT = "comment", "Comment"
        UNDER_REVIEW = "under_review", "Taken under review"
        REJECTED = "rejected", "Rejected"
        RESOLVED = "resolved", "Resolved with a credit note"
        WITHDRAWN = "withdrawn", "Withdrawn"

    dispute = models.ForeignKey(Dispute, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    message = models.TextField(blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    by_finance = models.BooleanField(default=False)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.dispute_id} {self.kind}"


SHA256_HEX = "^[0-9a-f]{64}$"


class InvoiceShareLink(models.Model):
    """A signed, expiring link to one issued invoice (a hosted invoice page). Only the SHA-256 of the
    token is stored; the token is shown once. Revocable."""

    invoice = models.ForeignKey("ledger.Invoice", on_delete=models.PROTECT, related_name="share_links")
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, related_name="+")
    token_sha256 = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("created_at")), name="sharelink_window"
            ),
            models.CheckConstraint(
                condition=Q(token_sha256__regex=SHA256_HEX),
                name="sharelink_sha256",
            ),
        ]

    def __str__(self) -> str:
        return f"share {self.invoice_id} until {self.expires_at:%Y-%m-%d}"
