"""Reads over rated usage. Period totals are served from aggregates, never from a scan of raw events,
except where the pricing model needs the events themselves (percentage prices are per event) or the
meter counts distinct values (unique_count cannot be summed across hours)."""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Max, Min, Sum

from billing.catalog.models import Meter, Sku
from billing.close.models import BillingPeriod
from billing.profiles.models import ProfileAssignment, ProfileVersion
from billing.rating.models import TenantUsageEstimate, UsageAggregate, UsageAggregateValue
from billing.usage.models import RatingBatch, UsageEvent


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


def price_model(version_body: dict[str, object], sku_code: str) -> str | None:
    for entry in version_body.get("prices", []):  # type: ignore[attr-defined]
        if entry.get("sku") == sku_code:
            return str(entry.get("model"))
    return None


def _exact_totals(rows: list[dict[str, Any]], *, tenant_id: int, start: datetime, end: datetime) -> None:
    """SQLite keeps decimals as REAL and its SUM() adds binary floats (8321.76 comes back as
    8321.75999999999). Each stored value converts back exactly at the field's scale, so on SQLite the
    totals are re-added here as Decimals. PostgreSQL's NUMERIC sums are exact and skip this."""
    totals: dict[tuple[int, int], Decimal] = defaultdict(Decimal)
    for sku_id, version_id, quantity in UsageAggregate.objects.filter(
        tenant_id=tenant_id, hour__gte=start, hour__lt=end
    ).values_list("sku_id", "profile_version_id", "quantity"):
        totals[(sku_id, version_id)] += quantity
    for row in rows:
        row["total"] = totals[(row["sku_id"], row["profile_version_id"])]


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
    `biggest`, `events`, `first` and `last` of the hourly aggregates in [start, end), totals exact on
    every engine."""
    rows: list[dict[str, Any]] = list(
        UsageAggregate.objects.filter(tenant_id=tenant_id, hour__gte=start, hour__lt=end)
        .values("sku_id", "profile_version_id")
        .annotate(**_PERIOD_TOTALS)
    )
    if rows and connection.vendor == "sqlite":
        _exact_totals(rows, tenant_id=tenant_id, start=start, end=end)
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
    if result and connection.vendor == "sqlite":
        for tenant_id, rows in result.items():
            _exact_totals(rows, tenant_id=tenant_id, start=start, end=end)
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


def pending_backlog() -> int:
    """Events waiting for rating: the sizes of the pending batches (partial index on pending batches)."""
    total = RatingBatch.objects.filter(status=RatingBatch.Status.PENDING).aggregate(n=Sum("event_count"))["n"]
    return int(total or 0)


def oldest_pending_received_at() -> datetime | None:
    oldest: datetime | None = RatingBatch.objects.filter(status=RatingBatch.Status.PENDING).aggregate(
        at=Min("created_at")
    )["at"]
    return oldest


class VersionTimeline:
    """Which profile version is in force for a tenant at an instant, for many tenants and instants at once:
    assignments and in-force versions are loaded once, each lookup is two bisections in memory (the same
    answer as `billing.profiles.selectors.resolve_version`, without a query per event)."""

    def __init__(self, tenant_ids: Iterable[int]):
        ids = set(tenant_ids)
        self._assignments: dict[int, tuple[list[datetime], list[ProfileAssignment]]] = {}
        by_tenant: dict[int, list[ProfileAssignment]] = defaultdict(list)
        for assignment in ProfileAssignment.objects.filter(tenant_id__in=ids).order_by(
            "tenant_id", "effective_from"
        ):
            by_tenant[assignment.tenant_id].append(assignment)
        for tenant_id, rows in by_tenant.items():
            self._assignments[tenant_id] = ([a.effective_from for a in rows], rows)
        profile_ids = {a.profile_id for rows in by_tenant.values() for a in rows}
        by_profile: dict[int, list[ProfileVersion]] = defaultdict(list)
        for version in ProfileVersion.objects.filter(
            profile_id__in=profile_ids, status__in=ProfileVersion.IN_FORCE_STATUSES
        ).order_by("profile_id", "effective_from"):
            by_profile[version.profile_id].append(version)
        self._versions: dict[int, tuple[list[datetime], list[ProfileVersion]]] = {
            pid: ([v.effective_from for v in rows], rows) for pid, rows in by_profile.items()
        }
        self._priced: dict[int, frozenset[str]] = {
            v.pk: frozenset(str(e.get("sku")) for e in v.body.get("prices", []))
            for rows in by_profile.values()
            for v in rows
        }

    def version_at(self, tenant_id: int, at: datetime) -> ProfileVersion | None:
        """The version of the profile assigned to the tenant at `at` with the latest effective_from <= at."""
        entry = self._assignments.get(tenant_id)
        if entry is None:
            return None
        starts, rows = entry
        i = bisect_right(starts, at) - 1
        if i < 0:
            return None
        assignment = rows[i]
        if assignment.effective_to is not None and at >= assignment.effective_to:
            return None
        versions = self._versions.get(assignment.profile_id)
        if versions is None:
            return None
        v_starts, v_rows = versions
        j = bisect_right(v_starts, at) - 1
        return v_rows[j] if j >= 0 else None

    def prices(self, version: ProfileVersion, sku_code: str) -> bool:
        return sku_code in self.priced_codes(version)

    def priced_codes(self, version: ProfileVersion) -> frozenset[str]:
        return self._priced.get(version.pk, frozenset())

    def windows(self) -> Iterator[tuple[int, datetime, datetime | None, ProfileVersion]]:
        """(tenant, valid_from, valid_to or None for open-ended, version): per tenant, disjoint windows in
        which `version_at` answers that version (the last assignment started at or before the instant,
        unless it has ended; the last version of its profile effective at or before it)."""
        for tenant_id, (_starts, assignments) in self._assignments.items():
            for i, assignment in enumerate(assignments):
                a_from = assignment.effective_from
                next_from = assignments[i + 1].effective_from if i + 1 < len(assignments) else None
                a_to = _earliest(assignment.effective_to, next_from)
                if a_to is not None and a_to <= a_from:
                    continue
                _v_starts, versions = self._versions.get(assignment.profile_id, ([], []))
                for j, version in enumerate(versions):
                    v_to = versions[j + 1].effective_from if j + 1 < len(versions) else None
                    lo = max(a_from, version.effective_from)
                    hi = _earliest(a_to, v_to)
                    if hi is None or hi > lo:
                        yield tenant_id, lo, hi, version


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    """The earlier of two window ends, None meaning open-ended."""
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def closed_periods(*, tenant_ids: Iterable[int]) -> dict[int, list[tuple[datetime, datetime]]]:
    """[start, end) of every closed (invoiced) billing period of the given tenants."""
    result: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    rows = BillingPeriod.objects.filter(tenant_id__in=set(tenant_ids), status=BillingPeriod.Status.CLOSED)
    for tenant_id, start, end in rows.values_list("tenant_id", "start", "end"):
        result[tenant_id].append((start, end))
    return result


@dataclass(frozen=True)
class SummaryLine:
    sku_code: str
    quantity: Decimal
    event_count: int
    amount: Decimal


def estimates_for_period(*, tenant_id: int, period_key: str) -> list[TenantUsageEstimate]:
    """The stored running estimates of one tenant for one period, by SKU code."""
    return list(
        TenantUsageEstimate.objects.filter(tenant_id=tenant_id, period_key=period_key)
        .select_related("sku")
        .order_by("sku__code")
    )


def quarantined_events(*, tenant_id: int | None = None) -> Any:
    qs = UsageEvent.objects.filter(status=UsageEvent.Status.QUARANTINED)
    if tenant_id is not None:
        qs = qs.filter(tenant_id=tenant_id)
    return qs.order_by("-received_at")
