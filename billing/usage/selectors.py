"""Reads over stored usage events and their rating batches: the backlog that backpressure bounds, the
oldest pending batch the rating sweeper watches, and quarantined events waiting for re-attribution."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db.models import Count, Min, Q, Sum

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
