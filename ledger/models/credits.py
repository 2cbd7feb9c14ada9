"""Prepaid credit grants, their consumptions and restorations. A grant's remaining balance is its amount
less its consumptions plus their restorations (never stored, never below zero: the consuming service
locks the grant row)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from ledger.models.journal import AMOUNT_DIGITS, AMOUNT_PLACES


class CreditGrant(models.Model):
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, related_name="credit_grants")
    amount = models.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES)
    currency = models.CharField(max_length=3)
    priority = models.IntegerField(default=0, help_text="among grants expiring together, higher first")
    granted_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=255)
    ledger_transaction = models.ForeignKey("ledger.Transaction", on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["tenant_id", "expires_at", "-priority", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="creditgrant_positive"),
            models.CheckConstraint(
                condition=Q(expires_at__isnull=True) | Q(expires_at__gt=models.F("granted_at")),
                name="creditgrant_window",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id}: {self.amount} {self.currency}"


class CreditConsumption(models.Model):
    grant = models.ForeignKey(CreditGrant, on_delete=models.PROTECT, related_name="consumptions")
    invoice = models.ForeignKey(
        "ledger.Invoice", on_delete=models.PROTECT, related_name="credit_consumptions"
    )
    amount = models.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES)
    created_at = models.DateTimeField()
    ledger_transaction = models.ForeignKey("ledger.Transaction", on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="creditconsumption_positive"),
            models.UniqueConstraint(fields=["grant", "invoice"], name="creditconsumption_once_per_invoice"),
        ]

    def __str__(self) -> str:
        return f"{self.grant_id} -> {self.invoice_id}: {self.amount}"


class CreditRestoration(models.Model):
    """Prepaid credit given back when the invoice that consumed it is voided: the grant's remainder
    grows again by `amount` and the ledger reverses the consumption (Dr receivable, Cr prepaid)."""

    consumption = models.OneToOneField(
        CreditConsumption, on_delete=models.PROTECT, related_name="restoration"
    )
    amount = models.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES)
    created_at = models.DateTimeField()
    ledger_transaction = models.ForeignKey("ledger.Transaction", on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["id"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="creditrestoration_positive")]

    def __str__(self) -> str:
        return f"restore {self.consumption_id}: {self.amount}"


class CreditExpiry(models.Model):
    """Expired prepaid credit posted as breakage (Dr prepaid liability, Cr breakage revenue), append-only.
    The expiry run writes at most one row per grant (`restoration` empty: the grant's unused part when it
    expired). Credit given back to a grant at or after its expiry (its invoice voided) is breakage at
    once: one more row, for that restoration (`restoration` set, at most one per restoration)."""

    grant = models.ForeignKey(CreditGrant, on_delete=models.PROTECT, related_name="expiries")
    restoration = models.OneToOneField(
        CreditRestoration, on_delete=models.PROTECT, null=True, blank=True, related_name="expiry"
    )
    amount = models.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES)
    expired_at = models.DateTimeField(help_text="the grant's expires_at")
    created_at = models.DateTimeField()
    ledger_transaction = models.ForeignKey("ledger.Transaction", on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="creditexpiry_positive"),
            models.UniqueConstraint(
                fields=["grant"], condition=Q(restoration__isnull=True), name="creditexpiry_once_per_grant"
            ),
        ]

    def __str__(self) -> str:
        return f"expire {self.grant_id}: {self.amount}"
