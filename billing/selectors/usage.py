"""Reads over rated usage. Period totals are served from aggregates, never from a scan of raw events,
except where the pricing model needs the events themselves (percentage prices are per event) or the
meter counts distinct values (unique_count cannot be summed across hours)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db.models import Count, Max, Min, Sum

from billing.models import Meter, ProfileVersion, Sku, UsageAggregate, UsageEvent


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


def _price_model(version_body: dict[str, object], sku_code: str) -> str | None:
    for entry in version_body.get("prices", []):  # type: ignore[attr-defined]
        if entry.get("sku") == sku_code:
            return str(entry.get("model"))
    return None


def period_usage(*, tenant_id: int, start: datetime, end: datetime) -> list[PeriodUsage]:
    """Per (SKU, profile version) usage of a tenant in [start, end), ordered by SKU code then the
    version's effective_from. Quantities follow each meter's aggregation over the whole range."""
    rows = (
        UsageAggregate.objects.filter(tenant_id=tenant_id, hour__gte=start, hour__lt=end)
        .values("sku_id", "profile_version_id")
        .annotate(
            total=Sum("quantity"),
            biggest=Max("quantity"),
            events=Sum("event_count"),
            first=Min("first_event_at"),
            last=Max("last_event_at"),
        )
    )
    rows = list(rows)
    if not rows:
        return []
    skus = {s.pk: s for s in Sku.objects.select_related("meter").filter(pk__in={r["sku_id"] for r in rows})}
    versions = {
        v.pk: v for v in ProfileVersion.objects.filter(pk__in={r["profile_version_id"] for r in rows})
    }
    result: list[PeriodUsage] = []
    events = UsageEvent.objects.filter(
        tenant_id=tenant_id, timestamp__gte=start, timestamp__lt=end, status=UsageEvent.Status.RATED
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
                    tenant_id=tenant_id, sku_id=sku.pk, profile_version_id=version.pk, hour__gte=start, hour__lt=end
                )
                .order_by("-last_event_at", "-hour")
                .values_list("quantity", flat=True)
                .first()
            )
            quantity = latest if latest is not None else Decimal(0)
        else:  # unique_count: distinct tag values over the whole range
            quantity = Decimal(
                events.filter(sku_id=sku.pk, profile_version_id=version.pk)
                .values(f"tags__{sku.meter.unique_tag}")
                .distinct()
                .count()
            )
        usage = PeriodUsage(
            sku_id=sku.pk,
            sku_code=sku.code,
            profile_version_id=version.pk,
            quantity=quantity,
            event_count=int(row["events"]),
            first_event_at=row["first"],
            last_event_at=row["last"],
        )
        if _price_model(version.body, sku.code) == "percentage":
            usage.event_quantities = list(
                events.filter(sku_id=sku.pk, profile_version_id=version.pk)
                .order_by("timestamp", "id")
                .values_list("quantity", flat=True)
            )
        result.append(usage)
    order = defaultdict(int, {v.pk: i for i, v in enumerate(sorted(versions.values(), key=lambda v: v.effective_from))})
    result.sort(key=lambda u: (u.sku_code, order[u.profile_version_id]))
    return result


def event_counts_by_status(*, tenant_id: int | None = None) -> dict[str, int]:
    qs = UsageEvent.objects.all()
    if tenant_id is not None:
        qs = qs.filter(tenant_id=tenant_id)
    return {row["status"]: row["n"] for row in qs.values("status").annotate(n=Count("id"))}
