"""Billing profiles, their immutable versions, and which tenant is on which profile when.

State machine of a ProfileVersion (the database refuses every other move, and any insert but a draft):

    draft --submit--> pending_approval --approve--> approved --(newer version approved)--> superseded
                                        \\--reject--> rejected \\--(its canary rolled back)--> rolled_back

Approval goes through an ApprovalRequest (billing/profiles/approvals.py): the version is approved when its
open request has collected the number of signed Approvals the policy asks for.

The body, its hash and `effective_from` never change once the version has left draft; the profile, the
number and the author never change at all (the `billing_profileversion_guard` trigger, billing/migrations/
0015_state_machine_guards.sql). The decider holds the finance_approver role and is not the author (the
trigger, and a CHECK constraint)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from simple_history.models import HistoricalRecords


class BillingProfile(models.Model):
    """A parametric price list that many tenants share. Its prices live in its versions."""

    code = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class ProfileVersion(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PENDING_APPROVAL = "pending_approval", "Pending approval"
        APPROVED = "approved", "Approved"
        SUPERSEDED = "superseded", "Superseded"
        REJECTED = "rejected", "Rejected"
        ROLLED_BACK = "rolled_back", "Rolled back"

    # The statuses whose versions priced (or price) usage: a rolled-back canary keeps the instants it priced.
    IN_FORCE_STATUSES = (Status.APPROVED, Status.SUPERSEDED, Status.ROLLED_BACK)

    profile = models.ForeignKey(BillingProfile, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    body = models.JSONField(help_text="The whole profile document, validated")
    body_sha256 = models.CharField(max_length=64)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    effective_from = models.DateTimeField()
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)

    class Meta:
        ordering = ["profile_id", "number"]
        get_latest_by = "number"
        constraints = [
            models.UniqueConstraint(fields=["profile", "number"], name="profileversion_unique_number"),
            models.UniqueConstraint(
                fields=["profile", "effective_from"],
                condition=Q(status__in=["approved", "superseded", "rolled_back"]),
                name="profileversion_one_in_force_per_instant",
            ),
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=F("author")),
                name="profileversion_four_eyes",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["approved", "superseded", "rejected", "rolled_back"])
                | Q(decided_by__isnull=False),
                name="profileversion_decided_has_decider",
            ),
            models.CheckConstraint(
                condition=Q(body_sha256__regex=r"^[0-9a-f]{64}$"), name="profileversion_sha256"
            ),
        ]
        indexes = [
            models.Index(fields=["profile", "status", "effective_from"], name="profileversion_in_force")
        ]

    def __str__(self) -> str:
        return f"{self.profile_id}v{self.number} ({self.status})"

    @property
    def is_frozen(self) -> bool:
        return self.status != self.Status.DRAFT


class ProfileAssignment(models.Model):
    """Tenant -> profile over [effective_from, effective_to). Windows of one tenant never overlap
    (an exclusion constraint), so a tenant can move between
    profiles mid-period and every instant has at most one profile."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, related_name="profile_assignments")
    profile = models.ForeignKey(BillingProfile, on_delete=models.PROTECT, related_name="assignments")
    effective_from = models.DateTimeField()
    effective_to = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["tenant_id", "effective_from"]
        constraints = [
            models.CheckConstraint(
                condition=Q(effective_to__isnull=True) | Q(effective_to__gt=F("effective_from")),
                name="assignment_window_positive",
            )
        ]
        indexes = [models.Index(fields=["tenant", "effective_from"], name="assignment_tenant_from")]

    def __str__(self) -> str:
        return f"{self.tenant_id}->{self.profile_id} [{self.effective_from}, {self.effective_to})"


class ApprovalRequest(models.Model):
    """A submitted version waiting for its approvers (billing/profiles/approvals.py): it carries the backtest
    summary the approvers saw and its hash, and how many approvals the policy asks for. At most one request
    per version is open; an open request expires `settings.APPROVAL_REQUEST_TTL` after it was made."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        EXPIRED = "expired", "Expired"
        WITHDRAWN = "withdrawn", "Withdrawn"

    version = models.ForeignKey(ProfileVersion, on_delete=models.PROTECT, related_name="approval_requests")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    periods = models.PositiveSmallIntegerField(default=1)
    backtest = models.JSONField(default=dict, blank=True, help_text="The backtest summary the approvers saw")
    backtest_hash = models.CharField(max_length=64)
    required_approvals = models.PositiveSmallIntegerField(default=1)
    matched_rules = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["version"], condition=Q(status="open"), name="approvalrequest_one_open_per_version"
            ),
            models.CheckConstraint(
                condition=Q(periods__gte=1, periods__lte=12), name="approvalrequest_periods"
            ),
            models.CheckConstraint(condition=Q(required_approvals__gte=1), name="approvalrequest_required"),
            models.CheckConstraint(
                condition=Q(backtest_hash__regex=r"^[0-9a-f]{64}$"), name="approvalrequest_backtest_sha256"
            ),
            models.CheckConstraint(
                condition=Q(expires_at__gt=F("created_at")), name="approvalrequest_expires_after_creation"
            ),
        ]
        indexes = [models.Index(fields=["status", "expires_at"], name="approvalrequest_open_expiry")]

    def __str__(self) -> str:
        return f"request {self.pk} for {self.version_id} ({self.status})"


class Approval(models.Model):
    """One approver's signed yes to a request (append-only: the database refuses UPDATE and DELETE, and an
    approver who wrote the version). `signature` is billing.profiles.signatures.approval_signature over the
    version's body SHA-256, the approver, `approved_at` and the request's backtest hash."""

    request = models.ForeignKey(ApprovalRequest, on_delete=models.PROTECT, related_name="approvals")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    approved_at = models.DateTimeField()
    signature = models.CharField(max_length=64)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["request_id", "approved_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["request", "approver"], name="approval_one_per_approver"),
            models.CheckConstraint(
                condition=Q(signature__regex=r"^[0-9a-f]{64}$"), name="approval_signature_hex"
            ),
        ]

    def __str__(self) -> str:
        return f"approval of request {self.request_id} by {self.approver_id}"
