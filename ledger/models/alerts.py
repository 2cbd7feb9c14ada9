"""In-product alerts (docs/alerts.md). One row per episode of a condition: it fires, may be acknowledged,
and resolves; while it is open (firing or acknowledged) the same condition updates it instead of opening
another (the partial unique index on `signature`). Services: ledger.alerts.services.

    firing --acknowledge--> acknowledged
    firing | acknowledged --resolve--> resolved      (final; the condition again opens a new row)

The database holds the state and its timestamps together (CHECK constraints below)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Alert(models.Model):
    class Kind(models.TextChoices):
        INVOICE_BLOCKED = "invoice_blocked", "Invoice blocked"
        LEDGER = "ledger", "Ledger"
        PDF = "pdf", "PDF rendering"
        RATING = "rating", "Rating set a batch aside"
        CLOSE = "close", "Period close could not finish for a tenant"
        SIGNATURE = "signature", "A profile version's approval signature does not verify"
        ROLLOUT = "rollout", "A canary rollout breached a guardrail and was halted"
        BUDGET = "budget", "Projected spend above the budget"
        COMMITMENT = "commitment", "Projected spend against the commitment"
        ANOMALY = "anomaly", "Spend anomaly"
        PIPELINE_LAG = "pipeline_lag", "Pipeline lag above its threshold"
        QUARANTINE_RATE = "quarantine_rate", "Quarantine rate above its threshold"
        BACKLOG = "backlog", "Backlog near the backpressure limit"
        RECONCILIATION = "reconciliation", "Reconciliation delta"
        WEBHOOK_DEAD = "webhook_dead", "Webhook delivery dead-lettered"

    class State(models.TextChoices):
        FIRING = "firing", "Firing"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        RESOLVED = "resolved", "Resolved"

    class Severity(models.TextChoices):
        CRITICAL = "critical", "Critical"
        WARNING = "warning", "Warning"
        INFO = "info", "Info"

    kind = models.CharField(max_length=24, choices=Kind.choices)
    state = models.CharField(max_length=16, choices=State.choices, default=State.FIRING)
    severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.WARNING)
    signature = models.CharField(max_length=64, help_text="sha256 hex of kind, tenant and key")
    key = models.TextField(help_text="the raiser's dedup key within kind and tenant")
    group_key = models.CharField(max_length=200)
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    invoice = models.ForeignKey(
        "ledger.Invoice", on_delete=models.CASCADE, null=True, blank=True, related_name="alerts"
    )
    message = models.TextField()
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(help_text="when it fired")
    last_seen_at = models.DateTimeField()
    occurrences = models.PositiveIntegerField(default=1)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["kind", "resolved_at"], name="alert_open"),
            models.Index(fields=["tenant", "state", "-created_at"], name="alert_tenant_state"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["signature"], condition=~Q(state="resolved"), name="alert_one_open_per_signature"
            ),
            models.CheckConstraint(
                condition=Q(state__in=["firing", "acknowledged", "resolved"]), name="alert_state_valid"
            ),
            models.CheckConstraint(
                condition=Q(severity__in=["critical", "warning", "info"]), name="alert_severity_valid"
            ),
            models.CheckConstraint(
                condition=(Q(state="resolved") & Q(resolved_at__isnull=False))
                | (~Q(state="resolved") & Q(resolved_at__isnull=True)),
                name="alert_resolved_iff_resolved_at",
            ),
            models.CheckConstraint(
                condition=~Q(state="acknowledged") | Q(acknowledged_at__isnull=False),
                name="alert_acknowledged_has_time",
            ),
            models.CheckConstraint(
                condition=Q(signature__regex="^[0-9a-f]{64}$"), name="alert_signature_hex"
            ),
            models.CheckConstraint(condition=Q(occurrences__gte=1), name="alert_occurrences_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}: {self.message[:60]}"

    @property
    def is_open(self) -> bool:
        return self.state != self.State.RESOLVED

    @property
    def for_customer(self) -> bool:
        """Whether the tenant's own people see and get it (else: the platform's, ALERT_EMAILS)."""
        return self.tenant_id is not None and self.kind in CUSTOMER_KINDS


# Kinds about what a customer controls or must act on: shown in the tenant's portal and notified to the
# tenant's webhooks and customer admins. Every other kind (and every platform alert) is the operator's:
# its message may name internals (a database error, a missing tax rule), so it goes to ALERT_EMAILS.
CUSTOMER_KINDS = frozenset(
    {
        Alert.Kind.BUDGET.value,
        Alert.Kind.COMMITMENT.value,
        Alert.Kind.ANOMALY.value,
        Alert.Kind.QUARANTINE_RATE.value,
        Alert.Kind.WEBHOOK_DEAD.value,
    }
)
