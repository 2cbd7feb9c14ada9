"""Audit records and the audit chain's head (registered through ledger/models/__init__.py).

A record's `hash` is ledger.hashing.canonical_sha256 of its fields and the previous record's hash
(`ledger.audit.services.record_hash`); records are appended under a lock of the single AuditHead row, and
the database refuses UPDATE, DELETE and TRUNCATE of records and any INSERT whose `prev_hash` is not the
hash of record `seq - 1` (migration ledger/0011_audit_trail)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class AuditRecord(models.Model):
    seq = models.BigIntegerField(unique=True, help_text="position in the audit chain, 1-based, gapless")
    at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="empty: the system (a task or a command)",
    )
    actor_label = models.CharField(
        max_length=150, help_text="the actor's username when recorded, or 'system'"
    )
    action = models.CharField(max_length=64, help_text="e.g. profile_version.update, dispute.resolve")
    object_type = models.CharField(max_length=100, help_text="app_label.model of the changed object")
    object_id = models.CharField(max_length=64, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    diff = models.JSONField(default=dict, blank=True, help_text="{field: [old, new]} for changed fields")
    reason = models.TextField(blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["-seq"]
        indexes = [
            models.Index(fields=["object_type", "object_id"], name="ledger_audit_object"),
            models.Index(fields=["actor", "seq"], name="ledger_audit_actor"),
            models.Index(fields=["action", "seq"], name="ledger_audit_action"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(seq__gte=1), name="ledger_audit_seq_positive"),
            models.CheckConstraint(condition=Q(hash__regex=r"^[0-9a-f]{64}$"), name="ledger_audit_hash_hex"),
            models.CheckConstraint(
                condition=Q(prev_hash__regex=r"^[0-9a-f]{64}$"), name="ledger_audit_prev_hash_hex"
            ),
            # Two records after the same one would fork the chain.
            models.UniqueConstraint(fields=["prev_hash"], name="ledger_audit_prev_hash_unique"),
        ]

    def __str__(self) -> str:
        return f"audit #{self.seq} {self.action} {self.object_type}:{self.object_id}"


class AuditHead(models.Model):
    """One row: the last audit record's seq and hash, signed (HMAC-SHA256 under settings.LEDGER_ANCHOR_KEY,
    ledger.hashing.audit_head_signature). Locked (SELECT ... FOR UPDATE) by every append, which serialises
    the audit chain; `audit_verify` checks that the chain ends where the head says and that its signature
    verifies (whoever rewrites the end of the chain cannot sign the new end without the key)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, default="0" * 64)
    key_id = models.CharField(max_length=32, blank=True, default="", help_text="which key signed the head")
    signature = models.CharField(max_length=64, blank=True, default="", help_text="HMAC-SHA256, hex")

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="ledger_audithead_singleton")]

    def __str__(self) -> str:
        return f"audit head #{self.seq}"
