"""Billing profiles, their immutable versions, and which tenant is on which profile when.

State machine of a ProfileVersion (the database refuses every other move, and any insert but a draft):

    draft --submit--> pending_approval --approve--> approved --(newer version approved)--> superseded
                                        \\--reject--> rejected

The body, its hash and `effective_from` never change once the version has left draft; the profile, the
number and the author never change at all (the `billing_profileversion_guard` trigger, billing/migrations/
0015_state_machine_guards.sql). The decider holds the finance_approver role and is not the author (the
trigger, and a CHECK constraint)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
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

    IN_FORCE_STATUSES = (Status.APPROVED, Status.SUPERSEDED)

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
                condition=Q(status__in=["approved", "superseded"]),
                name="profileversion_one_in_force_per_instant",
            ),
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=F("author")),
                name="profileversion_four_eyes",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["approved", "superseded", "rejected"]) | Q(decided_by__isnull=False),
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
