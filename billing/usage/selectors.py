"""Reads over stored usage events and their rating batches: the backlog that backpressure bounds, the
oldest pending batch the rating sweeper watches, and quarantined events waiting for re-attribution."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, Max, Min, Q, Sum

from billing.usage.models import RatingBatch, UsageEvent


def pending_backlog() -> int:
    """Events waiting for rating: the sizes of the pending batches (partial index on pending batches)."""
    total = RatingBatch.objects.filter(status=RatingBatch.Status.PENDING).aggregate(n=Sum("event_count"))["n"]
    return int(total or 0)


def oldest_pending_received_at() -> datetime | None:
    oldest: datetime | None = RatingBatch.objects.filter(status=RatingBatch.Status.PENDING).aggregate(
        at=Min("created_at")
    )["at"]
    return oldest


def unrated_event_counts(*, tenant_ids: Iterable[int], start: datetime, end: datetime) -> dict[int, int]:
    """Per tenant, its accepted events with a timestamp in [start, end) that rating has not rated yet
    (their batch is pending, or failed and set aside). Such batches are few: they are read first, and
    events only where a batch's time span meets the range."""
    ids = sorted(set(tenant_ids))
    if not ids:
        return {}
    candidates = list(
        RatingBatch.objects.filter(
            status__in=[RatingBatch.Status.PENDING, RatingBatch.Status.FAILED],
            earliest_event_at__lt=end,
            latest_event_at__gte=start,
        )
        .filter(Q(tenant_id__in=ids) | Q(tenant__isnull=True))
        .values_list("pk", flat=True)
    )
    if not candidates:
        return {}
    rows = (
        UsageEvent.objects.filter(
            rating_batch_id__in=candidates,
            tenant_id__in=ids,
            status=UsageEvent.Status.ACCEPTED,
            timestamp__gte=start,
            timestamp__lt=end,
        )
        .values("tenant_id")
        .annotate(n=Count("id"))
        .values_list("tenant_id", "n")
    )
    return {tenant_id: n for tenant_id, n in rows if n}


def quarantined_events(*, tenant_id: int | None = None) -> Any:
    qs = UsageEvent.objects.filter(status=UsageEvent.Status.QUARANTINED)
    if tenant_id is not None:
        qs = qs.filter(tenant_id=tenant_id)
    return qs.order_by("-received_at")


@dataclass(frozen=True)
class QuarantineGroup:
    """Quarantined events sharing a reason (and, in a breakdown, the tenant and SKU code the client sent
    or that were resolved), with their count and received-at span."""

    reason: str
    events: int
    oldest: datetime
    newest: datetime
    tenant_id: int | None = None
    tenant_slug: str = ""
    sku_code: str = ""


def quarantine_groups() -> list[QuarantineGroup]:
    """Quarantined events by reason, the largest group first (one GROUP BY over the quarantined rows,
    which the partial index `usage_event_quarantined` finds)."""
    rows = (
        UsageEvent.objects.filter(status=UsageEvent.Status.QUARANTINED)
        .values("quarantine_reason")
        .annotate(n=Count("id"), oldest=Min("received_at"), newest=Max("received_at"))
        .order_by("-n", "quarantine_reason")
    )
    return [QuarantineGroup(r["quarantine_reason"], r["n"], r["oldest"], r["newest"]) for r in rows]


def quarantine_breakdown(*, reason: str | None = None, limit: int = 200) -> list[QuarantineGroup]:
    """Quarantined events by reason, tenant (resolved, or the slug sent) and SKU code sent, largest first."""
    qs = UsageEvent.objects.filter(status=UsageEvent.Status.QUARANTINED)
    if reason is not None:
        qs = qs.filter(quarantine_reason=reason)
    rows = (
        qs.values("quarantine_reason", "tenant_id", "tenant_slug", "sku_code")
        .annotate(n=Count("id"), oldest=Min("received_at"), newest=Max("received_at"))
        .order_by("-n", "quarantine_reason", "tenant_slug", "sku_code")[:limit]
    )
    return [
        QuarantineGroup(
            r["quarantine_reason"],
            r["n"],
            r["oldest"],
            r["newest"],
            r["tenant_id"],
            r["tenant_slug"],
            r["sku_code"],
        )
        for r in rows
    ]


def quarantined_group_events(
    *, reason: str, sku_code: str | None = None, tenant_slug: str | None = None, limit: int = 100
) -> list[UsageEvent]:
    """The oldest quarantined events of a reason group (narrowed to the SKU code and tenant slug sent),
    as finance's triage page lists them to choose from."""
    qs = UsageEvent.objects.filter(status=UsageEvent.Status.QUARANTINED, quarantine_reason=reason)
    if sku_code is not None:
        qs = qs.filter(sku_code=sku_code)
    if tenant_slug is not None:
        qs = qs.filter(tenant_slug=tenant_slug)
    return list(qs.order_by("pk")[:limit])
