"""The usage behind one invoice line, per local day (the tenant's time zone), summing to the line's amount
to the cent.

A usage line prices one SKU under one profile version (one version segment) over the period, or over a
stretch of it when discount windows cut the period (its description ends "(... YYYY-MM-DD to
YYYY-MM-DD)", local days, as `billing.close.lines` writes it). Its days come from the hourly aggregates of
that SKU and version in that stretch (a bucket belongs to the local day its hour starts in); usage rated
after the invoice (late events, billed as corrections on a later invoice) is left out, as the invoice
left it out. Each day costs what it added to the price, with the tier position carried day after day
from what the SKU's earlier segments on the invoice carried (as `price_segments` carries it):

    amount(day) = P(carried + q_day) - P(carried),  carried += q_day

so the exact day amounts add up to the line's exact amount (the sum telescopes). They are then rounded
with the largest-remainder method to the currency's minor unit so that the rounded days add up to the
line's rounded amount exactly. Percentage prices are per event: each event's price is in the line's
stored breakdown, summed per day. A level (max, latest, distinct count) is a state of the whole period:
a day shows what it added to the billed level (the new peak, the values first seen that day; for
`latest`, the last day holds it all). Other lines (flat fees, discounts, minimum spend, corrections) get
a short explanation instead. Nothing here writes."""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_FLOOR, Decimal, localcontext
from typing import Any
from zoneinfo import ZoneInfo

from django.core.cache import cache as django_cache
from django.db import connection
from django.db.models import Max, Sum

from billing.catalog.models import Meter, Sku
from billing.close.cache import document_of
from billing.pricing import DocumentError, PercentagePrice, Price, PricingError, price
from billing.profiles.models import ProfileVersion
from billing.rating.models import UsageAggregate
from billing.usage.models import UsageEvent
from common.breaker import redis_breaker
from common.money import WIDE_CONTEXT, currency_exponent, quantize_money
from common.periods import zone_or_utc
from ledger.models import Invoice, InvoiceLine
from ledger.selectors import tenant_invoice_line
from tenants.models import Tenant

logger = logging.getLogger(__name__)
ZERO = Decimal(0)
_STRETCH = re.compile(r"(?:\(|; )(\d{4}-\d{2}-\d{2}) to (\d{4}-\d{2}-\d{2})\)$")
_LEVEL_NOTES = {
    Meter.Aggregation.MAX: "is billed on its peak over the period: each day shows how much it raised the peak",
    Meter.Aggregation.LATEST: "is billed on its last value in the period: the last day with usage holds it",
    Meter.Aggregation.UNIQUE_COUNT: (
        "counts distinct values over the whole period: each day shows the values first seen that day"
    ),
}


@dataclass(frozen=True)
class _Scope:
    """The usage a line prices: one SKU under one version in [start, end), days in `zone`."""

    tenant_id: int
    sku: Sku
    version_id: int
    start: datetime
    end: datetime
    zone: ZoneInfo

    @property
    def aggregates(self) -> Any:
        return UsageAggregate.objects.filter(
            tenant_id=self.tenant_id,
            sku_id=self.sku.pk,
            profile_version_id=self.version_id,
            hour__gte=self.start,
            hour__lt=self.end,
        )

    def day(self, instant: datetime) -> date:
        return instant.astimezone(self.zone).date()


@dataclass(frozen=True)
class DrillDay:
    """One local day of a usage line: the quantity it added and what that cost (exact and rounded)."""

    day: date
    version: str
    quantity: Decimal
    amount_exact: Decimal
    amount: Decimal


@dataclass
class LineDrilldown:
    line: InvoiceLine
    currency: str
    days: list[DrillDay] = field(default_factory=list)
    explanation: str = ""
    notes: list[str] = field(default_factory=list)
    version: str = ""
    first_day: date | None = None
    last_day: date | None = None

    @property
    def is_usage(self) -> bool:
        return bool(self.days)

    @property
    def quantity_total(self) -> Decimal:
        return sum((d.quantity for d in self.days), ZERO)

    @property
    def amount_total(self) -> Decimal:
        return sum((d.amount for d in self.days), ZERO)

    @property
    def exact_total(self) -> Decimal:
        with localcontext(WIDE_CONTEXT):
            return sum((d.amount_exact for d in self.days), ZERO)


def line_drilldown(*, tenant: Tenant, invoice_id: int, line_id: int) -> LineDrilldown | None:
    """The drill-down of the tenant's invoice line; None for another tenant's line."""
    line = tenant_invoice_line(tenant=tenant, invoice_id=invoice_id, line_id=line_id, with_breakdown=False)
    if line is None:
        return None
    result = LineDrilldown(line=line, currency=line.invoice.currency)
    if line.kind != InvoiceLine.Kind.USAGE:
        result.explanation = _explanation(line)
        return result
    if line.invoice.status not in _SETTLED:
        _usage_days(tenant, line, result)
        return result
    # An issued invoice's line never changes, nor do its days: usage rated later is left out of them (it
    # is billed as a correction). So the days are computed once per line and time zone and kept.
    key = _cache_key(line, tenant.timezone)
    kept = redis_breaker.fail_open(lambda: django_cache.get(key), default=None, what="drill-down")
    if isinstance(kept, _Days):
        kept.apply(result)
        return result
    _usage_days(tenant, line, result)
    days = _Days.of(result)
    redis_breaker.fail_open(
        lambda: django_cache.set(key, days, timeout=DRILLDOWN_CACHE_SECONDS), default=None, what="drill-down"
    )
    return result


DRILLDOWN_CACHE_SECONDS = 30 * 24 * 3600
_CACHE_VERSION = "v1"  # bump when the day rule or DrillDay's shape changes
_SETTLED = frozenset({Invoice.Status.FINALIZED, Invoice.Status.PAID, Invoice.Status.VOID})


def _cache_key(line: InvoiceLine, zone: str) -> str:
    """The line's key: its id with what names it for good (invoice number, finalization instant, amount),
    so a cache that outlives a database (restored, or a test database made anew) never answers for
    another line that got the same id."""
    invoice = line.invoice
    stamp = invoice.finalized_at.isoformat() if invoice.finalized_at else "-"
    return (
        f"billing:drilldown:{_CACHE_VERSION}:{line.pk}:{invoice.number}:{stamp}:{line.amount}:"
        f"{line.quantity}:{zone}"
    )


@dataclass(frozen=True)
class _Days:
    """What `_usage_days` found for a line, as kept in the cache."""

    days: list[DrillDay]
    explanation: str
    notes: list[str]
    version: str
    first_day: date | None
    last_day: date | None

    @classmethod
    def of(cls, found: LineDrilldown) -> _Days:
        return cls(found.days, found.explanation, found.notes, found.version, found.first_day, found.last_day)

    def apply(self, result: LineDrilldown) -> None:
        result.days, result.explanation, result.notes = list(self.days), self.explanation, list(self.notes)
        result.version, result.first_day, result.last_day = self.version, self.first_day, self.last_day


def split_to_minor_units(exact: list[Decimal], total: Decimal, currency: str) -> list[Decimal]:
    """`exact` amounts rounded to the currency's minor unit so that they add up to `total` exactly
    (largest remainder: every amount floored, the units left over go to the largest remainders, ties to
    the earlier; `total` is the rounded sum of `exact`, or any amount within len(exact) units of it)."""
    if not exact:
        return []
    unit = Decimal(1).scaleb(-currency_exponent(currency))
    with localcontext(WIDE_CONTEXT):
        floors = [(e / unit).to_integral_value(rounding=ROUND_FLOOR) * unit for e in exact]
        left = int(((total - sum(floors, ZERO)) / unit).to_integral_value())
        by_remainder = sorted(range(len(exact)), key=lambda i: (-(exact[i] - floors[i]), i))
        step = unit if left >= 0 else -unit
        order = by_remainder if left >= 0 else by_remainder[::-1]
        for n in range(abs(left)):
            floors[order[n % len(order)]] += step
    return [f.quantize(unit) for f in floors]


def _explanation(line: InvoiceLine) -> str:
    if line.kind == InvoiceLine.Kind.FLAT:
        return (
            "A fixed fee for the period: it does not depend on usage. When the price list changed during "
            "the period, the fee is split by the days each version was in force."
        )
    if line.kind == InvoiceLine.Kind.DISCOUNT:
        code = f" ({line.discount_code})" if line.discount_code else ""
        return (
            f"A discount{code}: it reduces the charges in its scope whose usage happened inside its "
            "validity window. The usage lines it applies to drill down to their days."
        )
    if line.kind == InvoiceLine.Kind.MINIMUM:
        return (
            "Your price list commits a minimum spend per period. The charges after discounts came to "
            "less, and this line makes up the difference."
        )
    if line.kind == InvoiceLine.Kind.CORRECTION:
        number = line.corrects_invoice.number if line.corrects_invoice else ""
        return (
            f"Usage for {line.corrects_period} arrived after invoice {number} was issued. That period was "
            "priced again with everything known now; this line bills the difference against what was "
            "billed before."
        )
    return ""


def _stretch(line: InvoiceLine, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of the line: the period, or the discount-window stretch its description names."""
    invoice = line.invoice
    start, end = invoice.period_start, invoice.period_end
    match = _STRETCH.search(line.description)
    if match:
        first, last = (date.fromisoformat(g) for g in match.groups())
        start = max(start, datetime.combine(first, time(), tzinfo=zone))
        end = min(end, datetime.combine(last + timedelta(days=1), time(), tzinfo=zone))
    return start, end


def _carried(line: InvoiceLine) -> Decimal | None:
    """What the SKU's earlier segments on the invoice carried into this line (None: it is the first)."""
    earlier = InvoiceLine.objects.filter(
        invoice_id=line.invoice_id,
        kind=InvoiceLine.Kind.USAGE,
        sku_code=line.sku_code,
        position__lt=line.position,
    )
    if not earlier.exists():
        return None
    total: Decimal | None = earlier.aggregate(total=Sum("quantity"))["total"]
    return total or ZERO


def _usage_days(tenant: Tenant, line: InvoiceLine, result: LineDrilldown) -> None:
    zone = zone_or_utc(tenant.timezone)
    start, end = _stretch(line, zone)
    result.first_day = start.astimezone(zone).date()
    result.last_day = (end - timedelta(microseconds=1)).astimezone(zone).date()
    version = (
        ProfileVersion.objects.filter(pk=line.profile_version_id).first()
        if line.profile_version_id is not None
        else None
    )
    sku = Sku.objects.select_related("meter").filter(code=line.sku_code).first()
    if version is None or sku is None:
        result.explanation = "The usage behind this line is no longer available in detail."
        return
    result.version = f"v{version.number}"
    try:
        entry = document_of(version).prices.get(line.sku_code)
    except DocumentError:
        entry = None
    if entry is None:
        result.explanation = "The usage behind this line is no longer available in detail."
        return
    scope = _Scope(tenant_id=tenant.pk, sku=sku, version_id=version.pk, start=start, end=end, zone=zone)
    if isinstance(entry, PercentagePrice):
        exact = _per_event_days(line, scope)
    else:
        exact = _priced_days(entry, _day_quantities(scope, line, result), _carried(line))
    if not exact:
        result.explanation = "No rated usage is recorded for this line."
        return
    total = sum((e for _d, _q, e in exact), ZERO)
    if quantize_money(total, line.invoice.currency) != line.amount:
        # The days would not add up to the line without spreading a real difference over them: say so
        # (and alert) rather than print per-day amounts that merely sum.
        logger.warning(
            "drill-down of invoice line %s: the days price to %s, the line is %s", line.pk, total, line.amount
        )
        result.explanation = (
            "The usage recorded today does not price to this line's amount to the cent, so it is not "
            "split per day here; the line stands as invoiced."
        )
        return
    rounded = split_to_minor_units([e for _d, _q, e in exact], line.amount, line.invoice.currency)
    result.days = [
        DrillDay(day=d, version=result.version, quantity=q, amount_exact=e, amount=r)
        for (d, q, e), r in zip(exact, rounded, strict=True)
    ]
    if result.quantity_total != (line.quantity or ZERO):
        result.notes.append(
            "The recorded usage differs from the quantity billed on this line: usage rated after the "
            "invoice was issued is billed as a correction on a later invoice."
        )


def _late_by_day(scope: _Scope) -> dict[date, Decimal]:
    """Usage rated after its period was invoiced, per local day, that the aggregates of this version hold
    (a late event's version is the one its hour's aggregates were written under, the latest one in force
    at its instant when the hour saw two)."""
    late = list(
        UsageEvent.objects.filter(
            tenant_id=scope.tenant_id,
            sku_id=scope.sku.pk,
            timestamp__gte=scope.start,
            timestamp__lt=scope.end,
            status=UsageEvent.Status.ACCEPTED,
            late=True,
        ).values_list("timestamp", "quantity")
    )
    if not late:
        return {}
    hours = {ts.replace(minute=0, second=0, microsecond=0) for ts, _q in late}
    versions: dict[datetime, list[tuple[datetime, int]]] = defaultdict(list)
    for hour, version_id, since in UsageAggregate.objects.filter(
        tenant_id=scope.tenant_id, sku_id=scope.sku.pk, hour__in=hours
    ).values_list("hour", "profile_version_id", "profile_version__effective_from"):
        versions[hour].append((since, version_id))
    count = scope.sku.meter.aggregation == Meter.Aggregation.COUNT
    result: dict[date, Decimal] = defaultdict(lambda: ZERO)
    for ts, quantity in late:
        hour = ts.replace(minute=0, second=0, microsecond=0)
        candidates = sorted(versions.get(hour, []))
        owner = next((v for since, v in reversed(candidates) if since <= ts), None)
        if owner is None and candidates:
            owner = candidates[0][1]
        if owner == scope.version_id:
            result[scope.day(hour)] += Decimal(1) if count else quantity
    return result


_FIRST_SEEN_PER_DAY = """
SELECT (f.first AT TIME ZONE %s)::date AS day, count(*) AS new
FROM (
    SELECT v.value, min(a.hour) AS first
    FROM billing_usageaggregatevalue v JOIN billing_usageaggregate a ON a.id = v.aggregate_id
    WHERE a.tenant_id = %s AND a.sku_id = %s AND a.profile_version_id = %s AND a.hour >= %s AND a.hour < %s
    GROUP BY v.value
) f
GROUP BY 1
"""


def _first_seen_per_day(scope: _Scope) -> dict[date, Decimal]:
    """Per local day, how many distinct values were seen for the first time in the stretch: counted in
    the database (one row per day), not value by value in Python."""
    with connection.cursor() as cursor:
        cursor.execute(
            _FIRST_SEEN_PER_DAY,
            (str(scope.zone.key), scope.tenant_id, scope.sku.pk, scope.version_id, scope.start, scope.end),
        )
        return {day: Decimal(count) for day, count in cursor.fetchall()}


def _day_quantities(scope: _Scope, line: InvoiceLine, result: LineDrilldown) -> list[tuple[date, Decimal]]:
    """Per local day (in order) the quantity the day added to the line's priced quantity."""
    sku = scope.sku
    aggregation = sku.meter.aggregation
    buckets = scope.aggregates
    days: dict[date, Decimal] = defaultdict(lambda: ZERO)
    if aggregation in (Meter.Aggregation.SUM, Meter.Aggregation.COUNT):
        for hour, quantity in buckets.values_list("hour", "quantity"):
            days[scope.day(hour)] += quantity
        for day, quantity in _late_by_day(scope).items():
            days[day] -= quantity
        # a day whose usage all came late billed nothing here (its correction did): not listed
        ordered = sorted(days.items())
        return [(d, q) for d, q in ordered if q != 0] or ordered[:1]
    note = _LEVEL_NOTES.get(Meter.Aggregation(aggregation), "is a level of the whole period")
    result.notes.append(f"{sku.name} {note}.")
    billed = line.quantity or ZERO
    levels: list[tuple[date, Decimal]] = []
    if aggregation == Meter.Aggregation.UNIQUE_COUNT:
        new = _first_seen_per_day(scope)
        running = ZERO
        for day in sorted(new):
            running += new[day]
            levels.append((day, running))
    elif aggregation == Meter.Aggregation.MAX:
        peaks: dict[date, Decimal] = {}
        for row in buckets.values("hour").annotate(peak=Max("quantity")):
            day = scope.day(row["hour"])
            peaks[day] = max(peaks.get(day, ZERO), row["peak"])
        running = ZERO
        for day in sorted(peaks):
            running = max(running, peaks[day])
            levels.append((day, running))
    else:  # latest: the last day with usage holds the period's value
        seen = sorted({scope.day(h) for h in buckets.values_list("hour", flat=True)})
        levels = [(day, ZERO) for day in seen[:-1]] + [(seen[-1], billed)] if seen else []
    added: list[tuple[date, Decimal]] = []
    before = ZERO
    for day, level in levels:
        capped = min(level, billed)  # levels raised by late usage are billed as corrections
        added.append((day, capped - before))
        before = capped
    return added


def _priced_days(
    entry: Price, quantities: list[tuple[date, Decimal]], carried: Decimal | None
) -> list[tuple[date, Decimal, Decimal]]:
    days: list[tuple[date, Decimal, Decimal]] = []
    with localcontext(WIDE_CONTEXT):
        for day, quantity in quantities:
            try:
                amount = price(entry, quantity=max(quantity, ZERO), carried_quantity=carried).amount
            except PricingError:
                return []
            days.append((day, quantity, amount))
            carried = (carried or ZERO) + quantity
    return days


_PER_EVENT_DAYS_SQL = """
WITH priced AS (
    SELECT (row->>'index')::bigint AS idx, (row->>'quantity')::numeric AS quantity,
           (row->>'amount')::numeric AS amount
    FROM {lines} l, jsonb_array_elements(l.breakdown) AS row
    WHERE l.id = %(line)s AND jsonb_typeof(row) = 'object' AND row->>'kind' = 'event'
), late AS (
    SELECT date_trunc('hour', "timestamp") AS hour, count(*) AS n
    FROM {events}
    WHERE tenant_id = %(tenant)s AND late AND status = 'accepted' AND sku_id = %(sku)s
      AND profile_version_id = %(version)s AND "timestamp" >= %(start)s AND "timestamp" < %(end)s
    GROUP BY 1
), hours AS (
    SELECT a.hour, a.event_count - coalesce(late.n, 0) AS n
    FROM {aggregates} a LEFT JOIN late ON late.hour = a.hour
    WHERE a.tenant_id = %(tenant)s AND a.sku_id = %(sku)s AND a.profile_version_id = %(version)s
      AND a.hour >= %(start)s AND a.hour < %(end)s
), bounds AS MATERIALIZED (  -- once, not per priced row
    SELECT array_agg(lo ORDER BY hour) AS los, array_agg(hour ORDER BY hour) AS hrs, sum(n)::bigint AS total
    FROM (SELECT hour, n, (sum(n) OVER (ORDER BY hour) - n)::bigint AS lo FROM hours WHERE n > 0) x
)
SELECT (b.hrs[width_bucket(p.idx, b.los)] AT TIME ZONE %(tz)s)::date AS day, sum(p.quantity), sum(p.amount),
       count(*), (SELECT count(*) FROM priced), (SELECT max(idx) FROM priced), b.total
FROM priced p CROSS JOIN bounds b
GROUP BY 1, b.total
ORDER BY 1
"""


def _per_event_days(line: InvoiceLine, scope: _Scope) -> list[tuple[date, Decimal, Decimal]]:
    """Percentage prices: the breakdown's per-event prices and quantities (row `index` = the event's
    position in time order among the events the invoice priced), summed per local day, in PostgreSQL.
    An event's day comes from the hourly aggregates, not the events: the aggregates' event counts (less
    the late events, which the invoice left out) in hour order give each hour its range of positions,
    so the month's events are never read (tens of thousands of heap pages). Nothing when the breakdown
    and the events the invoice priced do not pair up one to one."""
    sql = _PER_EVENT_DAYS_SQL.format(
        lines=connection.ops.quote_name(InvoiceLine._meta.db_table),
        events=connection.ops.quote_name(UsageEvent._meta.db_table),
        aggregates=connection.ops.quote_name(UsageAggregate._meta.db_table),
    )
    params: dict[str, Any] = {
        "line": line.pk,
        "tenant": scope.tenant_id,
        "sku": scope.sku.pk,
        "version": scope.version_id,
        "start": scope.start,
        "end": scope.end,
        "tz": scope.zone.key,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if not rows:
        return []
    *_sums, priced, highest, events = rows[0]
    paired = sum(n for _d, _q, _a, n, *_rest in rows)
    if not (priced == events == paired and highest == priced - 1) or any(d is None for d, *_r in rows):
        return []
    return [(day, quantity, amount) for day, quantity, amount, *_rest in rows]
