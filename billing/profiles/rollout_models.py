"""Canary rollouts of an approved profile version (services: billing/profiles/rollouts.py).

A Rollout makes its version start, at its `effective_from`, only for a cohort of tenants: an explicit list
(RolloutTenant rows) or a percentage chosen by a stable hash of the tenant (`in_percentage_cohort`). Every
other tenant of the profile starts on it when the rollout is promoted (`promoted_at`), or never. The rule
is read by one resolver, billing.profiles.selectors (VersionTimeline, `tenant_version_list`).

State machine (the database refuses every other move, billing/migrations/0019_rollouts.sql):

    canary --guardrail breached / halt--> halted
    canary | halted --promote--> promoted          (everyone from promoted_at on)
    canary | halted --rollback--> rolled_back      (a new version with the replaced body, from rolled_back_at)

The version, the cohort and the guardrails never change; cohort rows never change once the version is in
force; promoted_at, halted_at and rolled_back_at are written once."""

from __future__ import annotations

import hashlib
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from billing.profiles.models import ProfileVersion


def in_percentage_cohort(*, salt: str, tenant_id: int, percent: Decimal) -> bool:
    """The stable draw of a percentage cohort: the first 32 bits of sha256("{salt}:{tenant_id}") modulo
    10,000 below percent x 100 (so 12.5 % takes the draws 0..1249)."""
    draw = int(hashlib.sha256(f"{salt}:{tenant_id}".encode()).hexdigest()[:8], 16) % 10000
    return draw < int(percent * 100)


class Rollout(models.Model):
    class CohortKind(models.TextChoices):
        EXPLICIT = "explicit", "Explicit list of tenants"
        PERCENTAGE = "percentage", "Percentage of tenants"

    class Status(models.TextChoices):
        CANARY = "canary", "Canary"
        HALTED = "halted", "Halted"
        PROMOTED = "promoted", "Promoted"
        ROLLED_BACK = "rolled_back", "Rolled back"

    ACTIVE_STATUSES = (Status.CANARY, Status.HALTED)

    version = models.OneToOneField(ProfileVersion, on_delete=models.PROTECT, related_name="rollout")
    cohort_kind = models.CharField(max_length=12, choices=CohortKind.choices)
    percent = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    salt = models.CharField(max_length=32)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.CANARY)
    max_bill_change_pct = models.DecimalField(
        max_digits=7, decimal_places=2, help_text="halt when a cohort tenant's estimated bill moves more (%)"
    )
    max_disputes = models.PositiveIntegerField(help_text="halt when cohort tenants open more disputes")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    promoted_at = models.DateTimeField(null=True, blank=True)
    promoted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    halted_at = models.DateTimeField(null=True, blank=True)
    halt_reason = models.TextField(blank=True)
    rolled_back_at = models.DateTimeField(null=True, blank=True)
    rolled_back_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    rollback_version = models.ForeignKey(
        ProfileVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(cohort_kind="explicit") & Q(percent__isnull=True))
                | (Q(cohort_kind="percentage") & Q(percent__gt=0) & Q(percent__lte=100)),
                name="rollout_cohort_percent",
            ),
            models.CheckConstraint(condition=Q(max_bill_change_pct__gte=0), name="rollout_max_bill_change"),
            models.CheckConstraint(
                condition=~Q(status="promoted")
                | (Q(promoted_at__isnull=False) & Q(promoted_by__isnull=False)),
                name="rollout_promoted_has_when_who",
            ),
            models.CheckConstraint(
                condition=~Q(status="halted") | (Q(halted_at__isnull=False) & ~Q(halt_reason="")),
                name="rollout_halted_has_reason",
            ),
            models.CheckConstraint(
                condition=~Q(status="rolled_back")
                | (
                    Q(rolled_back_at__isnull=False)
                    & Q(rolled_back_by__isnull=False)
                    & Q(rollback_version__isnull=False)
                ),
                name="rollout_rolled_back_has_version",
            ),
        ]
        indexes = [models.Index(fields=["status"], name="rollout_status")]

    def __str__(self) -> str:
        return f"rollout of {self.version_id} ({self.status})"

    def holds(self, tenant_id: int, explicit: frozenset[int]) -> bool:
        """Whether the tenant is in the cohort (`explicit`: the RolloutTenant ids of an explicit cohort)."""
        if self.cohort_kind == self.CohortKind.PERCENTAGE:
            assert self.percent is not None
            return in_percentage_cohort(salt=self.salt, tenant_id=tenant_id, percent=self.percent)
        return tenant_id in explicit


class RolloutTenant(models.Model):
    """One tenant of an explicit cohort (immutable once the version is in force)."""

    rollout = models.ForeignKey(Rollout, on_delete=models.PROTECT, related_name="tenants")
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["rollout_id", "tenant_id"]
        constraints = [models.UniqueConstraint(fields=["rollout", "tenant"], name="rollouttenant_unique")]

    def __str__(self) -> str:
        return f"{self.tenant_id} in rollout {self.rollout_id}"
