"""The append-only, hash-chained double-entry journal.

Amounts are `Decimal` (NUMERIC(22, 4) in the database: enough for every ISO 4217 minor unit), signed:
a debit is positive, a credit negative. Every transaction balances to zero per currency (checked in code
before insert, and at COMMIT by a deferred constraint trigger). Rows are never updated or deleted: the
database refuses it (triggers; see docs/ledger.md)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django.db import models
from django.db.models import Q

AMOUNT_DIGITS = 22
AMOUNT_PLACES = 4
_STORED = Decimal(1).scaleb(-AMOUNT_PLACES)


def stored_amount(value: Decimal | None) -> Decimal:
    """A database SUM() of amounts (or None for no rows) at the stored scale, AMOUNT_PLACES decimals:
    NUMERIC sums are exact, so this only fixes the scale and turns None into 0."""
    return (value or Decimal(0)).quantize(_STORED, rounding=ROUND_HALF_UP)


class Transaction(models.Model):
    class Kind(models.TextChoices):
        INVOICE = "invoice", "Invoice finalized"
        CREDIT_NOTE = "credit_note", "Credit note"
        CREDIT_GRANT = "credit_grant", "Prepaid credit granted"
        CREDIT_CONSUMPTION = "credit_consumption", "Prepaid credit consumed"
        CREDIT_RESTORATION = "credit_restoration", "Prepaid credit restored (invoice voided)"
        CREDIT_EXPIRY = "credit_expiry", "Prepaid credit expired (breakage)"
        PAYMENT = "payment", "Payment received"
        ADJUSTMENT = "adjustment", "Manual adjustment"

    seq = models.BigIntegerField(unique=True, help_text="position in the hash chain, 1-based, gapless")
    kind = models.CharField(max_length=24, choices=Kind.choices)
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reference = models.CharField(max_length=120, blank=True, help_text="invoice or credit note number")
    memo = models.CharField(max_length=255, blank=True)
    booked_at = models.DateTimeField(db_index=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["seq"]
        constraints = [
            models.CheckConstraint(condition=Q(seq__gte=1), name="ledger_tx_seq_positive"),
            models.CheckConstraint(condition=Q(hash__regex=r"^[0-9a-f]{64}$"), name="ledger_tx_hash_hex"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.kind} {self.reference}"


class Posting(models.Model):
    transaction = models.ForeignKey(Transaction, on_delete=models.PROTECT, related_name="postings")
    account = models.ForeignKey("ledger.Account", on_delete=models.PROTECT, related_name="postings")
    amount = models.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES)
    currency = models.CharField(max_length=3)
    # The document amount before conversion to the ledger's base currency (audit trail).
    original_amount = models.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES)
    original_currency = models.CharField(max_length=3)

    class Meta:
        ordering = ["transaction_id", "id"]
        indexes = [
            models.Index(fields=["account", "transaction"], name="ledger_posting_account_tx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(amount=0) | ~Q(original_amount=0), name="ledger_posting_nonzero"
            )
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.amount} {self.currency}"


class ChainHead(models.Model):
    """One row: the last transaction's seq and hash. Locked (SELECT ... FOR UPDATE) by every append,
    which serialises the chain."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, default="0" * 64)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="ledger_chainhead_singleton")]

    def __str__(self) -> str:
        return f"head #{self.seq}"


class ChainAnchor(models.Model):
    """A signed copy of the chain head, taken after each period close run and each payment (and on demand):
    its seq, hash and the number of transactions up to it, signed with HMAC-SHA256 under
    settings.LEDGER_ANCHOR_KEY, a key that is not in the database (`ledger/hashing.py` has the canonical
    string). `ledger_verify` checks the chain against every anchor whose signature verifies, so a deleted
    tail with a rewritten head no longer passes. Append-only: the database refuses UPDATE, DELETE and
    TRUNCATE (migration ledger/0007_chain_anchor)."""

    class Reason(models.TextChoices):
        CLOSE = "close", "Period close run"
        PAYMENT = "payment", "Payment"
        MANUAL = "manual", "Manual (manage.py ledger_anchor)"

    seq = models.BigIntegerField(help_text="the chain head's seq when anchored (0: empty journal)")
    hash = models.CharField(max_length=64, help_text="the hash of transaction `seq` (64 zeros for seq 0)")
    transaction_count = models.BigIntegerField(help_text="journal transactions with seq <= `seq`")
    created_at = models.DateTimeField()
    reason = models.CharField(max_length=16, choices=Reason.choices)
    key_id = models.CharField(max_length=32, help_text="which LEDGER_ANCHOR_KEY signed it (not the key)")
    signature = models.CharField(max_length=64, help_text="HMAC-SHA256, hex")

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["seq", "id"], name="ledger_chainanchor_seq")]
        constraints = [
            models.CheckConstraint(condition=Q(seq__gte=0), name="ledger_chainanchor_seq_nonnegative"),
            models.CheckConstraint(
                condition=Q(transaction_count__gte=0), name="ledger_chainanchor_count_nonnegative"
            ),
            models.CheckConstraint(
                condition=Q(hash__regex=r"^[0-9a-f]{64}$"), name="ledger_chainanchor_hash_hex"
            ),
            models.CheckConstraint(
                condition=Q(signature__regex=r"^[0-9a-f]{64}$"), name="ledger_chainanchor_signature_hex"
            ),
            models.CheckConstraint(
                condition=Q(reason__in=["close", "payment", "manual"]), name="ledger_chainanchor_reason"
            ),
        ]

    def __str__(self) -> str:
        return f"anchor #{self.seq} ({self.reason})"
