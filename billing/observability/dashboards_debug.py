"""The debug dashboard's figures, platform-wide (finance-only reads). Definitions in docs/dashboards.md.

- Per-SKU ingest rates: rated events per SKU per clock hour over the last 24 h (the hourly aggregates'
  event counts, by the hour of the events' timestamps).
- Rating latency: per rating batch received in the last 24 h, rated_at - created_at (receipt to rated), as
  a histogram over LATENCY_BOUNDS with its p50/p95/p99 (exact, percentile_cont) and the share within the
  SLO's 60 s; batches still pending are counted apart.
- Version-lookup latency: the billing_version_lookup_seconds histogram of this process's registry, or of
  every process when PROMETHEUS_MULTIPROC_DIR is set; "no data" when nothing observed it."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import pairwise

from django.db import connection
from django.db.models import Sum
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

from billing.catalog.models import Sku
from billing.observability.dashboards_oncall import first_batch_id_since, window_start
from billing.observability.forecast import histogram_quantile, rate_percent
from billing.rating.models import UsageAggregate
from billing.usage.models import RatingBatch

# Upper bounds (seconds) of the rating-latency histogram's buckets; the last bucket is open.
LATENCY_BOUNDS = (1, 5, 15, 30, 60, 120, 300, 900, 3600)
SLO_SECONDS = 60
VERSION_LOOKUP_METRIC = "billing_version_lookup_seconds"


@dataclass(frozen=True)
class SkuRate:
    code: str
    hours: list[int]  # events per clock hour of the window, oldest first
    total: int


@dataclass(frozen=True)
class LatencyBucket:
    label: str  # "< 1 s", "1-5 s", ">= 3600 s": [lower, upper)
    batches: int


@dataclass(frozen=True)
class RatingLatency:
    buckets: list[LatencyBucket]
    rated: int
    pending: int
    p50: float | None
    p95: float | None
    p99: float | None
    within_slo: int

    @property
    def within_slo_percent(self) -> Decimal | None:
        return rate_percent(self.within_slo, self.rated)


@dataclass(frozen=True)
class LookupLatency:
    count: int
    mean: float | None
    p50: float | None
    p95: float | None
    p99: float | None
    buckets: list[tuple[str, int]]  # (upper bound, observations <= bound), cumulative


@dataclass(frozen=True)
class Debug:
    now: datetime
    hours: list[datetime]
    skus: list[SkuRate]
    latency: RatingLatency
    lookup: LookupLatency | None  # None: no data


def sku_rates(*, now: datetime) -> tuple[list[datetime], list[SkuRate]]:
    start = window_start(now)
    hours = [start + timedelta(hours=i) for i in range(24)]
    rows = (
        UsageAggregate.objects.filter(hour__gte=start, hour__lte=now)
        .values_list("sku_id", "hour")
        .annotate(n=Sum("event_count"))
        .order_by()
    )
    counts: dict[int, dict[datetime, int]] = {}
    for sku_id, hour, n in rows:
        counts.setdefault(sku_id, {})[hour] = int(n)
    codes = dict(Sku.objects.filter(pk__in=counts).values_list("pk", "code"))
    skus = [
        SkuRate(code=codes[sku_id], hours=[by_hour.get(h, 0) for h in hours], total=sum(by_hour.values()))
        for sku_id, by_hour in counts.items()
    ]
    return hours, sorted(skus, key=lambda s: (-s.total, s.code))


_LATENCY_SQL = """
SELECT width_bucket(EXTRACT(EPOCH FROM rated_at - created_at), %s::double precision[]) AS bucket,
       COUNT(*)
FROM {table}
WHERE id >= %s AND created_at >= %s AND created_at <= %s AND status = 'rated'
GROUP BY 1
"""
_QUANTILES_SQL = """
SELECT percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM rated_at - created_at)),
       COUNT(*) FILTER (WHERE status = 'pending')
FROM {table}
WHERE id >= %s AND created_at >= %s AND created_at <= %s AND status IN ('rated', 'pending')
"""


def rating_latency(*, now: datetime) -> RatingLatency:
    start = window_start(now)
    first_id = first_batch_id_since(start)
    counts: dict[int, int] = {}
    quantiles: list[float] | None = None
    pending = 0
    if first_id is not None:
        table = RatingBatch._meta.db_table
        # width_bucket(x, bounds): 0 for x < bounds[0], i for bounds[i-1] <= x < bounds[i].
        with connection.cursor() as cursor:
            cursor.execute(
                _LATENCY_SQL.format(table=table), [[float(b) for b in LATENCY_BOUNDS], first_id, start, now]
            )
            counts = {int(b): int(n) for b, n in cursor.fetchall()}
            cursor.execute(_QUANTILES_SQL.format(table=table), [first_id, start, now])
            row = cursor.fetchone()
            quantiles, pending = (row[0], int(row[1])) if row else (None, 0)
    labels = [
        f"< {LATENCY_BOUNDS[0]} s",
        *(f"{a}-{b} s" for a, b in pairwise(LATENCY_BOUNDS)),
        f">= {LATENCY_BOUNDS[-1]} s",
    ]
    buckets = [LatencyBucket(label, counts.get(i, 0)) for i, label in enumerate(labels)]
    slo_index = LATENCY_BOUNDS.index(SLO_SECONDS)
    p = [float(x) for x in quantiles] if quantiles and quantiles[0] is not None else [math.nan] * 3
    return RatingLatency(
        buckets=buckets,
        rated=sum(counts.values()),
        pending=pending,
        p50=None if math.isnan(p[0]) else p[0],
        p95=None if math.isnan(p[1]) else p[1],
        p99=None if math.isnan(p[2]) else p[2],
        within_slo=sum(counts.get(i, 0) for i in range(slo_index + 1)),
    )


def _registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return registry
    return REGISTRY


def version_lookup_latency(registry: CollectorRegistry | None = None) -> LookupLatency | None:
    """The version-lookup histogram, its label sets summed; None when it is absent or empty."""
    buckets: dict[float, float] = {}
    total = count = 0.0
    for family in (registry or _registry()).collect():
        if family.name != VERSION_LOOKUP_METRIC:
            continue
        for sample in family.samples:
            if sample.name.endswith("_bucket"):
                bound = float(sample.labels["le"])
                buckets[bound] = buckets.get(bound, 0.0) + sample.value
            elif sample.name.endswith("_sum"):
                total += sample.value
            elif sample.name.endswith("_count"):
                count += sample.value
    if not buckets or count <= 0:
        return None
    ordered = sorted(buckets.items())
    return LookupLatency(
        count=int(count),
        mean=total / count,
        p50=histogram_quantile(0.5, ordered),
        p95=histogram_quantile(0.95, ordered),
        p99=histogram_quantile(0.99, ordered),
        buckets=[("+Inf" if math.isinf(b) else f"{b:g}", int(n)) for b, n in ordered],
    )


def debug_dashboard(*, now: datetime) -> Debug:
    hours, skus = sku_rates(now=now)
    return Debug(
        now=now, hours=hours, skus=skus, latency=rating_latency(now=now), lookup=version_lookup_latency()
    )
