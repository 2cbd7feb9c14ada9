"""Allocation rules and their immutable versions, approved by four eyes (registered through
billing/models.py; docs/showback.md).

    draft --submit--> pending_approval --(required approvals)--> approved --(newer approved)--> superseded
                                        \\--reject--> rejected

A version's body and effective period never change once it has left draft, and an approver is never its
author: the database refuses both (trigger billing_allocationversion_guard and a CHECK, migration
billing/0022_finops)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q


class AllocationRule(models.Model):
    """A named way to split one shared cost of a tenant across its projects or teams (cost centres)."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, related_name="+")
    code = models.SlugField(max_length=64)
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["tenant_id", "code"]
        constraints = [models.UniqueConstraint(fields=["tenant", "code"], name="allocationrule_code")]

    def __str__(self) -> str:
        return f"{self.tenant_id}/{self.code}"


class AllocationRuleVersion(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PENDING_APPROVAL = "pending_approval", "Pending approval"
        APPROVED = "approved", "Approved"
        SUPERSEDED = "superseded", "Superseded"
        REJECTED = "rejected", "Rejected"

    IN_FORCE = (Status.APPROVED, Status.SUPERSEDED)

    rule = models.ForeignKey(AllocationRule, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    body = models.JSONField(help_text="source, method, targets (billing.allocation.spec)")
    body_sha256 = models.CharField(max_length=64)
    effective_from = models.CharField(max_length=16, help_text="first period key it applies to, e.g. 2026-11")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    submitted_at = models.DateTimeField(null=True, blank=True)
    required_approvals = models.PositiveSmallIntegerField(default=1)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decision_note = models.TextField(blank=True)

    class Meta:
        ordering = ["rule_id", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "number"], name="allocationversion_number"),
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=F("author")),
                name="allocationversion_four_eyes",
            ),
            models.CheckConstraint(
                condition=Q(effective_from__regex=r"^[0-9]{4}-[0-9]{2}$"), name="allocationversion_period"
            ),
            models.CheckConstraint(condition=Q(required_approvals__gte=1), name="allocationversion_required"),
            models.UniqueConstraint(
                fields=["rule", "effective_from"],
                condition=Q(status="approved"),
                name="allocationversion_one_approved_per_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rule_id} v{self.number} ({self.status})"


class AllocationApproval(models.Model):
    """One approver's yes to a pending version (never its author: the trigger refuses it)."""

    version = models.ForeignKey(AllocationRuleVersion, on_delete=models.PROTECT, related_name="approvals")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    approved_at = models.DateTimeField()
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["version_id", "approved_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["version", "approver"], name="allocationapproval_once"),
        ]

    def __str__(self) -> str:
        return f"{self.version_id} approved by {self.approver_id}"
