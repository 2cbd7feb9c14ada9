"""Reads over rated usage. Period totals are served from aggregates, never from a scan of raw events,
except where the pricing model needs the events themselves (percentage prices are per event) or the
meter counts distinct values (unique_count cannot be summed across hours)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Max, Min, Sum

from billing.catalog.models import Meter, Sku
from billing.profiles.models import ProfileVersion
from billing.profiles.selectors import price_model
from billing.rating.models import BillingPeriod, TenantUsageEstimate, UsageAggregate, UsageAggregateValue
from billing.usage.models import UsageEvent


@dataclass
class PeriodUsage:
    """Usage of one SKU under one profile version within [start, end)."""

    sku_id: int
    sku_code: str
    profile_version_id: int
    quantity: Decimal
    event_count: int
    first_event_at: datetime
    last_event_at: datetime
    # Per-event quantities in event-time order, only when the version prices the SKU per event
    # (model `percentage`); None otherwise.
    event_quantities: list[Decimal] | None = field(default=None)

    @classmethod
    def of_row(cls, row: dict[str, Any], *, sku: Sku, version_id: int, quantity: Decimal) -> PeriodUsage:
        """From one grouped row of `period_usage_rows` (its event count and first/last instants)."""
        return cls(
            sku_id=sku.pk,
            sku_code=sku.code,
            profile_version_id=version_id,
            quantity=quantity,
            event_count=int(row["events"]),
            first_event_at=row["first"],
            last_event_at=row["last"],
        )


# Per (sku, version) group of hourly aggregates: what `period_usage` needs of them.
_PERIOD_TOTALS = {
    "total": Sum("quantity"),
    "biggest": Max("quantity"),
    "events": Sum("event_count"),
    "first": Min("first_event_at"),
    "last": Max("last_event_at"),
}


def period_usage_rows(*, tenant_id: int, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """The grouped aggregate rows behind `period_usage`: per (sku_id, profile_version_id) the `total`,
    `biggest`, `events`, `first` and `last` of the hourly aggregates in [start, end) (NUMERIC sums:
    exact)."""
    rows: list[dict[str, Any]] = list(
        UsageAggregate.objects.filter(tenant_id=tenant_id, hour__gte=start, hour__lt=end)
        .values("sku_id", "profile_version_id")
        .annotate(**_PERIOD_TOTALS)
    )
    return rows


def period_usage_rows_many(
    *, tenant_ids: Iterable[int], start: datetime, end: datetime
) -> dict[int, list[dict[str, Any]]]:
    """`period_usage_rows` of several tenants sharing the range [start, end), with one grouped query,
    by tenant id (tenants without usage are absent). Only consistent with the close if the caller holds
    the tenants' row locks (FOR UPDATE) in the transaction that closes their periods: rating takes KEY
    SHARE on a tenant before writing its aggregates, so it cannot add usage between this read and the
    close."""
    ids = sorted(set(tenant_ids))
    result: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if not ids:
        return result
    for row in (
        UsageAggregate.objects.filter(tenant_id__in=ids, hour__gte=start, hour__lt=end)
        .values("tenant_id", "sku_id", "profile_version_id")
        .annotate(**_PERIOD_TOTALS)
        .order_by()
    ):
        result[row.pop("tenant_id")].append(row)
    return result


def period_usage(*, tenant_id: int, start: datetime, end: datetime) -> list[PeriodUsage]:
    """Per (SKU, profile version) usage of a tenant in [start, end), ordered by SKU code then the
    version's effective_from. Quantities follow each meter's aggregation over the whole range."""
    rows = period_usage_rows(tenant_id=tenant_id, start=start, end=end)
    if not rows:
        return []
    skus = {s.pk: s for s in Sku.objects.select_related("meter").filter(pk__in={r["sku_id"] for r in rows})}
    versions = {
        v.pk: v for v in ProfileVersion.objects.filter(pk__in={r["profile_version_id"] for r in rows})
    }
    result: list[PeriodUsage] = []
    # Per-event prices: rating records the version on exactly these events (and only once rated).
    events = UsageEvent.objects.filter(
        tenant_id=tenant_id, timestamp__gte=start, timestamp__lt=end, status=UsageEvent.Status.ACCEPTED
    )
    for row in rows:
        sku, version = skus[row["sku_id"]], versions[row["profile_version_id"]]
        aggregation = sku.meter.aggregation
        quantity: Decimal
        if aggregation in (Meter.Aggregation.SUM, Meter.Aggregation.COUNT):
            quantity = row["total"]
        elif aggregation == Meter.Aggregation.MAX:
            quantity = row["biggest"]
        elif aggregation == Meter.Aggregation.LATEST:
            latest = (
                UsageAggregate.objects.filter(
                    tenant_id=tenant_id,
                    sku_id=sku.pk,
                    profile_version_id=version.pk,
                    hour__gte=start,
                    hour__lt=end,
                )
                .order_by("-last_event_at", "-hour")
                .values_list("quantity", flat=True)
                .first()
            )
            quantity = latest if latest is not None else Decimal(0)
        else:  # unique_count: distinct tag values over the whole range (stored by rating per hour)
            quantity = Decimal(
                UsageAggregateValue.objects.filter(
                    aggregate__tenant_id=tenant_id,
                    aggregate__sku_id=sku.pk,
                    aggregate__profile_version_id=version.pk,
                    aggregate__hour__gte=start,
                    aggregate__hour__lt=end,
                )
                .values("value")
                .distinct()
                .count()
            )
        usage = PeriodUsage.of_row(row, sku=sku, version_id=version.pk, quantity=quantity)
        if price_model(version.body, sku.code) == "percentage":
            usage.event_quantities = list(
                events.filter(sku_id=sku.pk, profile_version_id=version.pk)
                .order_by("timestamp", "id")
                .values_list("quantity", flat=True)
            )
        result.append(usage)
    order = defaultdict(
        int, {v.pk: i for i, v in enumerate(sorted(versions.values(), key=lambda v: v.effective_from))}
    )
    result.sort(key=lambda u: (u.sku_code, order[u.profile_version_id]))
    return result


def closed_periods(*, tenant_ids: Iterable[int]) -> dict[int, list[tuple[datetime, datetime]]]:
    """[start, end) of every closed (invoiced) billing period of the given tenants."""
    result: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    rows = BillingPeriod.objects.filter(tenant_id__in=set(tenant_ids), status=BillingPeriod.Status.CLOSED)
    for tenant_id, start, end in rows.values_list("tenant_id", "start", "end"):
        result[tenant_id].append((start, end))
    return result


def estimates_for_period(*, tenant_id: int, period_key: str) -> list[TenantUsageEstimate]:
    """The stored running estimates of one tenant for one period, by SKU code."""
    return list(
        TenantUsageEstimate.objects.filter(tenant_id=tenant_id, period_key=period_key)
        .select_related("sku")
        .order_by("sku__code")
    )
