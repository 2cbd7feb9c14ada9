"""A tenant's usage and usage cost per local day over a range of days, read from the hourly aggregates
(never from raw events) for the portal's history charts.

Days are the tenant's local days: an hourly row belongs to the day of `hour AT TIME ZONE tenant.timezone`
(PostgreSQL does the grouping, so a DST day has 23 or 25 hours and Asia/Tokyo's day starts at 15:00 UTC).

Usage per meter and day follows the meter's aggregation within the day: sum and count add up, max takes
the day's maximum, latest the day's last value, unique_count the day's distinct values.

Cost per day is the marginal cost of the day inside its billing period, per SKU, before flat fees,
discounts, the minimum spend, tax and credits (what the invoices' usage lines price):
`P(usage through the day) - P(usage through the day before)`, where P prices the period's usage so far
exactly as the close does, each version its own segment with the tier position carried across versions
(`price_segments`). So the days of a closed period add up to its usage lines before rounding. For levels
(max, latest, unique_count) "usage so far" is the level reached so far (running maximum, latest value,
distinct values seen since the period began), priced by the version of the latest usage. One exception,
stated on the page: per-event percentage prices are taken as `fixed_amount x events + rate x quantity`
of the day, without the per-event clamps and free allowances (the aggregates do not keep single events).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import Max, Sum
from django.db.models.functions import TruncDate

from billing.catalog.models import Meter, Sku
from billing.pricing import (
    FlatPrice,
    PercentagePrice,
    Price,
    PricingError,
    Segment,
    parse_price,
    price_segments,
)
from billing.profiles.models import ProfileVersion
from billing.profiles.selectors import VersionTimeline
from billing.rating import history_cache
from billing.rating.estimates import tenant_period_at
from billing.rating.models import UsageAggregate, UsageAggregateValue
from common.periods import Period
from tenants.models import Tenant

ZERO = Decimal(0)
HUNDRED = Decimal(100)
_FLOWS = frozenset({Meter.Aggregation.SUM, Meter.Aggregation.COUNT})


@dataclass(frozen=True)
class MeterDays:
    """One SKU's usage per local day (every day of the range, 0 where there was none)."""

    sku_code: str
    name: str
    unit: str
    aggregation: str
    days: list[tuple[date, Decimal]]

    @property
    def total(self) -> Decimal:
        return sum((q for _d, q in self.days), ZERO)


@dataclass(frozen=True)
class UsageHistory:
    """Usage per meter and cost per local day of [first_day, last_day]; `cost` holds exact (unrounded)
    amounts in `currency`; `approximate` names the SKUs whose cost is the percentage approximation (see
    the module docstring); `left_out` those not priced (another currency, no price, an invalid quantity)."""

    first_day: date
    last_day: date
    currency: str
    meters: list[MeterDays]
    cost: list[tuple[date, Decimal]]
    approximate: list[str] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=zone)


def _day_rows(*, tenant: Tenant, start: datetime, end: datetime, zone: ZoneInfo) -> list[dict[str, Any]]:
    """The one grouped query: per (local day, SKU, version) the sum, maximum and events of the hours."""
    return list(
        UsageAggregate.objects.filter(tenant=tenant, hour__gte=start, hour__lt=end)
        .annotate(day=TruncDate("hour", tzinfo=zone))
        .values("day", "sku_id", "profile_version_id")
        .annotate(total=Sum("quantity"), biggest=Max("quantity"), events=Sum("event_count"))
        .order_by()
    )


def _latest_rows(
    *, tenant: Tenant, sku_ids: set[int], start: datetime, end: datetime, zone: ZoneInfo
) -> dict[tuple[int, date], Decimal]:
    """For latest meters: the last value of each (SKU, local day)."""
    if not sku_ids:
        return {}
    rows = (
        UsageAggregate.objects.filter(tenant=tenant, sku_id__in=sku_ids, hour__gte=start, hour__lt=end)
        .annotate(day=TruncDate("hour", tzinfo=zone))
        .order_by("sku_id", "day", "-last_event_at", "-hour")
        .distinct("sku_id", "day")
        .values_list("sku_id", "day", "quantity")
    )
    return {(sku_id, day): quantity for sku_id, day, quantity in rows}


@dataclass(frozen=True)
class _UniqueDay:
    """A unique_count meter's day: its distinct values, and how many of them were not seen earlier in
    the day's billing period (so the period's distinct count through a day is the running sum of `new`)."""

    distinct: int
    new: int


_UNIQUE_DAYS_SQL = """
WITH day_values AS (
    SELECT a.sku_id, (a.hour AT TIME ZONE %(tz)s)::date AS day, v.value
    FROM {values} v JOIN {aggregates} a ON a.id = v.aggregate_id
    WHERE a.tenant_id = %(tenant)s AND a.sku_id = ANY(%(skus)s) AND a.hour >= %(start)s AND a.hour < %(end)s
    GROUP BY 1, 2, 3
), first_days AS (
    SELECT sku_id, min(day) AS day
    FROM day_values
    GROUP BY sku_id, width_bucket(day, %(period_days)s::date[]), value
), distinct_per_day AS (
    SELECT sku_id, day, count(*) AS distinct_values FROM day_values GROUP BY 1, 2
), new_per_day AS (
    SELECT sku_id, day, count(*) AS new_values FROM first_days GROUP BY 1, 2
)
SELECT d.sku_id, d.day, d.distinct_values, coalesce(n.new_values, 0)
FROM distinct_per_day d LEFT JOIN new_per_day n USING (sku_id, day)
"""


def _unique_days(
    *,
    tenant: Tenant,
    sku_ids: set[int],
    start: datetime,
    end: datetime,
    zone: ZoneInfo,
    periods: list[Period],
) -> dict[int, dict[date, _UniqueDay]]:
    """For unique_count meters, per (SKU, local day): the day's distinct values and those new in the
    day's billing period, counted in PostgreSQL (one row per SKU and day comes back, never the values).
    A day belongs to the period its local date falls in (`periods` in order)."""
    result: dict[int, dict[date, _UniqueDay]] = defaultdict(dict)
    if not sku_ids:
        return result
    sql = _UNIQUE_DAYS_SQL.format(
        values=connection.ops.quote_name(UsageAggregateValue._meta.db_table),
        aggregates=connection.ops.quote_name(UsageAggregate._meta.db_table),
    )
    params: dict[str, Any] = {
        "tz": zone.key,
        "tenant": tenant.pk,
        "skus": sorted(sku_ids),
        "start": start,
        "end": end,
        "period_days": [p.start.astimezone(zone).date() for p in periods],
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for sku_id, day, distinct, new in cursor.fetchall():
            result[sku_id][day] = _UniqueDay(distinct=distinct, new=new)
    return result


class _Prices:
    """Each version's parsed price of a SKU, parsed once."""

    def __init__(self, versions: dict[int, ProfileVersion]):
        self.versions = versions
        self._cache: dict[tuple[int, str], Price | None] = {}

    def of(self, version_id: int, sku_code: str) -> Price | None:
        key = (version_id, sku_code)
        if key not in self._cache:
            found: Price | None = None
            for entry in self.versions[version_id].body.get("prices", []):
                if entry.get("sku") == sku_code:
                    try:
                        found = parse_price({k: v for k, v in entry.items() if k != "sku"})
                    except PricingError:
                        found = None
                    break
            self._cache[key] = found
        return self._cache[key]

    def currency(self, version_id: int, default: str) -> str:
        return str(self.versions[version_id].body.get("currency", default))


def _periods(
    *, tenant: Tenant, first_day: date, last_day: date, zone: ZoneInfo, timeline: VersionTimeline
) -> list[Period]:
    """The billing periods holding the days of the range, in order."""
    periods = [tenant_period_at(tenant=tenant, at=_midnight(first_day, zone), timeline=timeline)]
    end = _midnight(last_day + timedelta(days=1), zone)
    while periods[-1].end < end:
        periods.append(tenant_period_at(tenant=tenant, at=periods[-1].end, timeline=timeline))
    return periods


@dataclass(frozen=True)
class HistoryPlan:
    """What a history of [first_day, last_day] is made of: its billing periods, its display currency and
    each period's cache key. Two plans with the same `fingerprint` give the same history, so a caller may
    keep what it builds from one (the portal keeps the rendered charts)."""

    tenant: Tenant
    first_day: date
    last_day: date
    periods: list[Period]
    currency: str
    keys: dict[int, str]

    @property
    def fingerprint(self) -> str:
        parts = [f"{self.first_day}:{self.last_day}", *(self.keys[i] for i in range(len(self.periods)))]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()


def history_plan(*, tenant: Tenant, first_day: date, last_day: date) -> HistoryPlan:
    """The plan of a history (a few small queries: versions, invoices, late events, open aggregates)."""
    if last_day < first_day:
        raise ValueError("last_day is before first_day")
    zone = ZoneInfo(tenant.timezone)
    timeline = VersionTimeline([tenant.pk])
    periods = _periods(tenant=tenant, first_day=first_day, last_day=last_day, zone=zone, timeline=timeline)
    end = _midnight(last_day + timedelta(days=1), zone)
    at_end = timeline.version_at(tenant.pk, end - timedelta(microseconds=1))
    currency = str(at_end.body.get("currency", tenant.currency)) if at_end else tenant.currency
    keys = history_cache.period_keys(tenant=tenant, periods=periods, currency=currency)
    return HistoryPlan(tenant, first_day, last_day, periods, currency, keys)


def usage_history(
    *, tenant: Tenant, first_day: date, last_day: date, plan: HistoryPlan | None = None
) -> UsageHistory:
    """Usage per meter and cost per local day of [first_day, last_day] (see the module docstring).

    Computed one billing period at a time (a day's cost depends on the usage of its period before it, never
    on another period's), and each period's part is kept in the cache (`history_cache`): a closed period's
    aggregates change only when late usage is rated into it, which changes the part's key."""
    if plan is None:
        plan = history_plan(tenant=tenant, first_day=first_day, last_day=last_day)
    elif (plan.tenant.pk, plan.first_day, plan.last_day) != (tenant.pk, first_day, last_day):
        raise ValueError("the plan is for another history")
    zone = ZoneInfo(tenant.timezone)
    currency = plan.currency
    days = [first_day + timedelta(days=i) for i in range((last_day - first_day).days + 1)]
    compute = partial(period_part, tenant=tenant, zone=zone, currency=currency)
    parts = history_cache.period_parts(keys=plan.keys, periods=plan.periods, compute=compute)

    quantities: dict[int, dict[date, Decimal]] = defaultdict(dict)
    meta: dict[int, tuple[str, str, str, str]] = {}
    cost: dict[date, Decimal] = defaultdict(lambda: ZERO)
    approximate: set[str] = set()
    left_out: set[str] = set()
    for part in parts:
        for sku_id, (info, by_day) in part.meters.items():
            meta.setdefault(sku_id, info)
            quantities[sku_id].update(by_day)
        for day, amount in part.cost.items():
            if first_day <= day <= last_day:
                cost[day] += amount
        approximate |= part.approximate
        left_out |= part.left_out
    meters = [
        MeterDays(
            sku_code=code,
            name=name,
            unit=unit,
            aggregation=aggregation,
            days=[(d, quantities[sku_id].get(d, ZERO)) for d in days],
        )
        for sku_id, (code, name, unit, aggregation) in meta.items()
    ]
    meters.sort(key=lambda m: m.sku_code)
    return UsageHistory(
        first_day,
        last_day,
        currency,
        meters,
        [(d, cost[d]) for d in days],
        sorted(approximate),
        sorted(left_out),
    )


@dataclass(frozen=True)
class PeriodPart:
    """One billing period's share of a history: per SKU id its (code, name, unit, aggregation) and usage
    per local day of the period; the marginal cost per day; the SKUs priced approximately or left out."""

    meters: dict[int, tuple[tuple[str, str, str, str], dict[date, Decimal]]]
    cost: dict[date, Decimal]
    approximate: frozenset[str]
    left_out: frozenset[str]


def period_part(period: Period, *, tenant: Tenant, zone: ZoneInfo, currency: str) -> PeriodPart:
    """The usage per meter and day and the cost per day of one billing period (all its days), read from
    the period's hourly aggregates with one grouped query (two more for latest and unique_count meters)."""
    start, end = period.start, period.end
    rows = _day_rows(tenant=tenant, start=start, end=end, zone=zone)
    if not rows:
        return PeriodPart({}, {}, frozenset(), frozenset())
    skus = {s.pk: s for s in Sku.objects.select_related("meter").filter(pk__in={r["sku_id"] for r in rows})}
    versions = {
        v.pk: v for v in ProfileVersion.objects.filter(pk__in={r["profile_version_id"] for r in rows})
    }
    prices = _Prices(versions)
    of_kind: dict[str, set[int]] = defaultdict(set)
    for sku in skus.values():
        of_kind[sku.meter.aggregation].add(sku.pk)
    latest = _latest_rows(
        tenant=tenant, sku_ids=of_kind[Meter.Aggregation.LATEST], start=start, end=end, zone=zone
    )
    uniques = _unique_days(
        tenant=tenant,
        sku_ids=of_kind[Meter.Aggregation.UNIQUE_COUNT],
        start=start,
        end=end,
        zone=zone,
        periods=[period],
    )
    # (sku, day) -> parts per version, ordered by the version's effective_from
    parts: dict[int, dict[date, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for row in sorted(rows, key=lambda r: versions[r["profile_version_id"]].effective_from):
        parts[row["sku_id"]][row["day"]].append(row)

    def day_quantity(sku_id: int, day: date, *, aggregation: str) -> Decimal:
        day_parts = parts[sku_id].get(day, [])
        if aggregation in _FLOWS:
            return sum((p["total"] for p in day_parts), ZERO)
        if aggregation == Meter.Aggregation.MAX:
            return max((p["biggest"] for p in day_parts), default=ZERO)
        if aggregation == Meter.Aggregation.LATEST:
            return latest.get((sku_id, day), ZERO)
        found = uniques[sku_id].get(day)
        return Decimal(found.distinct if found is not None else 0)

    first = start.astimezone(zone).date()
    last = (end - timedelta(microseconds=1)).astimezone(zone).date()
    meters: dict[int, tuple[tuple[str, str, str, str], dict[date, Decimal]]] = {}
    cost: dict[date, Decimal] = defaultdict(lambda: ZERO)
    approximate: set[str] = set()
    left_out: set[str] = set()
    for sku_id, by_day in parts.items():
        sku = skus[sku_id]
        aggregation = sku.meter.aggregation
        info = (sku.code, sku.name, sku.unit_label or sku.meter.unit, aggregation)
        meters[sku_id] = (info, {d: day_quantity(sku_id, d, aggregation=aggregation) for d in by_day})
        marginal = _period_cost(
            sku=sku,
            by_day=by_day,
            first=first,
            last=last,
            prices=prices,
            currency=currency,
            level=partial(day_quantity, sku_id, aggregation=aggregation),
            uniques=uniques.get(sku_id, {}),
            approximate=approximate,
            left_out=left_out,
        )
        for day, amount in marginal.items():
            cost[day] += amount
    return PeriodPart(meters, dict(cost), frozenset(approximate), frozenset(left_out))


def _period_cost(
    *,
    sku: Sku,
    by_day: dict[date, list[dict[str, Any]]],
    first: date,
    last: date,
    prices: _Prices,
    currency: str,
    level: Callable[[date], Decimal],
    uniques: dict[date, _UniqueDay],
    approximate: set[str],
    left_out: set[str],
) -> dict[date, Decimal]:
    """The marginal cost of each day of one billing period [first, last] for one SKU."""
    result: dict[date, Decimal] = {}
    aggregation = sku.meter.aggregation
    segments: list[tuple[int, Segment]] = []  # (version id, segment), consecutive versions merged
    before = ZERO
    running = ZERO
    seen = 0  # distinct values since the period began
    day = first
    while day <= last:
        found = uniques.get(day)
        seen += found.new if found is not None else 0
        day_parts = by_day.get(day)
        if not day_parts:
            day += timedelta(days=1)
            continue
        extra = ZERO
        for part in day_parts:
            version_id = part["profile_version_id"]
            if prices.currency(version_id, currency) != currency:
                left_out.add(sku.code)
                continue
            entry = prices.of(version_id, sku.code)
            if entry is None:
                left_out.add(sku.code)
                continue
            if isinstance(entry, FlatPrice):
                continue  # flat fees are not usage (the invoice's flat lines)
            if isinstance(entry, PercentagePrice):
                approximate.add(sku.code)
                extra += entry.fixed_amount * part["events"] + entry.rate * part["total"] / HUNDRED
                continue
            if aggregation in _FLOWS:
                if segments and segments[-1][0] == version_id:
                    old = segments[-1][1]
                    segments[-1] = (version_id, Segment(old.price, old.quantity + part["total"]))
                else:
                    segments.append((version_id, Segment(entry, part["total"])))
            else:
                segments = [(version_id, Segment(entry, ZERO))]  # a level: priced by the latest version
        if aggregation not in _FLOWS and segments:
            if aggregation == Meter.Aggregation.MAX:
                running = max(running, level(day))
            elif aggregation == Meter.Aggregation.LATEST:
                running = level(day)
            else:
                running = Decimal(seen)
            version_id, segment = segments[-1]
            segments = [(version_id, Segment(segment.price, running))]
        try:
            through = sum((r.amount for r in price_segments([s for _v, s in segments])), ZERO)
        except PricingError:
            left_out.add(sku.code)
            through = before
        result[day] = through - before + extra
        before = through
        day += timedelta(days=1)
    return result
