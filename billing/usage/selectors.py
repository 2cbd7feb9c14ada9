"""Reads over stored usage events and their rating batches: the backlog that backpressure bounds, the
oldest pending batch the rating sweeper watches, and quarantined events waiting for re-attribution."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Min, Sum

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


def quarantined_events(*, tenant_id: int | None = None) -> Any:
    qs = UsageEvent.objects.filter(status=UsageEvent.Status.QUARANTINED)
    if tenant_id is not None:
        qs = qs.filter(tenant_id=tenant_id)
    return qs.order_by("-received_at")
