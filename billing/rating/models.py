"""Rated usage: hourly aggregates per (tenant, SKU, hour, profile version), their distinct values for
unique_count meters, each tenant's running estimate of the open period, and billing periods (rating flags
usage for a closed period as late; close marks a period closed)."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q

from billing.usage.models import QUANTITY_DIGITS, QUANTITY_PLACES


class UsageAggregate(models.Model):
    """Rated usage per (tenant, sku, hour, profile version). `quantity` follows the meter's aggregation
    within the hour (sum, count, max, latest, or distinct values for unique_count)."""

    # Rating updates each touched row once per batch: the table keeps free space in its pages
    # (fillfactor 70, migration 0008) so those updates are HOT (no index entries written). The tenant is
    # the prefix of both indexes below, so it needs no index of its own.
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, related_name="+", db_index=False)
    sku = models.ForeignKey("billing.Sku", on_delete=models.PROTECT, related_name="+")
    profile_version = models.ForeignKey("billing.ProfileVersion", on_delete=models.PROTECT, related_name="+")
    hour = models.DateTimeField(help_text="UTC, truncated to the hour")
    quantity = models.DecimalField(max_digits=QUANTITY_DIGITS, decimal_places=QUANTITY_PLACES)
    event_count = models.BigIntegerField()
    first_event_at = models.DateTimeField()
    last_event_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "sku", "hour", "profile_version"], name="usage_aggregate_unique_bucket"
            ),
            models.CheckConstraint(condition=Q(event_count__gt=0), name="usage_aggregate_has_events"),
            models.CheckConstraint(
                condition=Q(last_event_at__gte=F("first_event_at")), name="usage_aggregate_time_order"
            ),
        ]
        indexes = [models.Index(fields=["tenant", "hour"], name="usage_aggregate_tenant_hour")]

    def __str__(self) -> str:
        return f"{self.tenant_id}:{self.sku_id}@{self.hour:%Y-%m-%dT%H}"


class UsageAggregateValue(models.Model):
    """The distinct tag values behind a unique_count aggregate, so a period's distinct count stays exact
    (distinct counts cannot be added across hours).

    Written once per distinct value per bucket by rating, so every index and key check here is paid per
    event of a unique_count meter. Keyed by (aggregate row, value): one narrow index, which is also the
    primary key (an insert costs a third of what a five-column key plus a surrogate id costs, see
    docs/performance.md). The tie to the aggregate row is checked once per statement by triggers
    (billing/migrations/0013_reinstall_guards.sql) instead of a row-level foreign key, and `value` uses the
    "C" collation (byte order: the values are opaque identifiers, compared for equality only)."""

    pk = models.CompositePrimaryKey("aggregate_id", "value")
    aggregate = models.ForeignKey(
        UsageAggregate, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    value = models.CharField(max_length=256)

    def __str__(self) -> str:
        return f"{self.aggregate_id}={self.value}"


class TenantUsageEstimate(models.Model):
    """A tenant's running (unrounded, pre-tax) cost estimate for one SKU in one billing period, recomputed
    from the aggregates after each rated batch that touched the tenant."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    period_key = models.CharField(max_length=16)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    sku = models.ForeignKey("billing.Sku", on_delete=models.PROTECT, related_name="+")
    quantity = models.DecimalField(max_digits=QUANTITY_DIGITS, decimal_places=QUANTITY_PLACES)
    event_count = models.BigIntegerField()
    amount = models.DecimalField(max_digits=QUANTITY_DIGITS, decimal_places=QUANTITY_PLACES)
    currency = models.CharField(max_length=3)
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["tenant_id", "period_start", "sku_id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "period_key", "sku"], name="usage_estimate_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id}:{self.period_key}:{self.sku_id}={self.amount} {self.currency}"


class BillingPeriod(models.Model):
    """A tenant's billing period [start, end) in UTC, computed from the tenant's time zone and the
    profile's billing cycle. `closed` once its invoice is finalized: usage for it is then late."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, related_name="billing_periods")
    key = models.CharField(max_length=16, help_text="e.g. 2026-11, 2026-Q4, 2026")
    start = models.DateTimeField()
    end = models.DateTimeField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["tenant_id", "start"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "start"], name="billing_period_unique_start"),
            models.UniqueConstraint(fields=["tenant", "key"], name="billing_period_unique_key"),
            models.CheckConstraint(condition=Q(end__gt=F("start")), name="billing_period_positive"),
            models.CheckConstraint(
                condition=Q(status="open", closed_at__isnull=True)
                | Q(status="closed", closed_at__isnull=False),
                name="billing_period_closed_at",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id}:{self.key}"
