"""The priced lines of one tenant's period, as plain data: what the period's own invoice bills, and what a
correction re-computes for an earlier period (the one road for both, `period_lines`).

 1. usage lines: one per SKU, profile version segment and discount-window stretch, priced by the pricing
    engine with the tier position carried across them (`price_segments`): a flow (a sum or count meter)
    is cut at the local midnights where a discount in the SKU's scope starts or ends, so a discount
    applies to exactly the usage whose event time lies inside its window; a level (max, latest, unique
    count) is a state of the whole period and is never cut;
 2. flat fees, prorated by the days each version was in force (the version in force at a local day's
    first instant owns the day), unless the governing version's price says `proration: none` (then
    its fee is charged whole); a discount takes a flat fee only if its window covers the fee's days;
 3. discounts of the governing version (in force at the period end), each its own line, applied to the
    charges whose stretch lies inside its window;
 4. the minimum-spend true-up, on the rounded lines.
Every line is rounded once to the currency's minor unit (ROUND_HALF_UP) and names its component
(`usage:<sku>:<version id>`, `flat:<sku>:<version id>`, `discount:<code>`, `minimum`). Nothing here
writes."""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal, localcontext
from typing import Any
from zoneinfo import ZoneInfo

from billing.catalog.models import Meter
from billing.close.cache import CloseCache, document_of
from billing.close.periods import version_at
from billing.pricing import (
    Discount,
    FlatPrice,
    PerUnitPrice,
    PriceResult,
    PricingError,
    ProfileDocument,
    Segment,
    price_segments,
    prorate,
)
from billing.profiles.models import ProfileAssignment, ProfileVersion
from billing.profiles.selectors import assignment_holding
from billing.rating import selectors as usage_selectors
from billing.rating.selectors import PeriodUsage
from common.money import WIDE_CONTEXT, quantize_money
from common.periods import Period
from ledger.contract import LineData
from ledger.models import InvoiceLine

ZERO = Decimal(0)
_TICK = timedelta(microseconds=1)
_FLOWS = frozenset({Meter.Aggregation.SUM, Meter.Aggregation.COUNT})


@dataclass(frozen=True)
class PeriodScope:
    """A tenant's period and what governs it."""

    tenant_id: int
    tz: str
    period: Period
    version: ProfileVersion  # in force at the period end
    doc: ProfileDocument
    cache: CloseCache

    @property
    def currency(self) -> str:
        return self.doc.currency

    def local_midnight(self, day: date) -> datetime:
        return datetime.combine(day, time(), tzinfo=ZoneInfo(self.tz))

    @property
    def first_day(self) -> date:
        return self.period.start.astimezone(ZoneInfo(self.tz)).date()

    @property
    def last_day(self) -> date:
        return (self.period.end - _TICK).astimezone(ZoneInfo(self.tz)).date()


@dataclass
class Charge:
    """A charge line and the stretch [start, end) of the period it bills (for discount windows)."""

    line: LineData
    start: datetime
    end: datetime
    remaining: Decimal = ZERO  # what later discounts may still take
    discounted: bool = False
    locked: bool = False


def _line(currency: str, **kwargs: Any) -> LineData:
    exact: Decimal = kwargs.pop("amount_exact")
    return LineData(amount_exact=exact, amount=quantize_money(exact, currency), **kwargs)


def component_of(kind: str, *, sku_code: str = "", version_id: int | None = None, code: str = "") -> str:
    """The stable key of what a line prices (older stored lines have none: derived from their fields)."""
    if kind == InvoiceLine.Kind.USAGE:
        return f"usage:{sku_code}:{version_id}"
    if kind == InvoiceLine.Kind.FLAT:
        return f"flat:{sku_code}:{version_id}"
    if kind == InvoiceLine.Kind.DISCOUNT:
        return f"discount:{code}"
    return str(kind)


def window(scope: PeriodScope, discount: Discount) -> tuple[datetime, datetime]:
    """A discount's validity as instants: from its first day's local midnight to the midnight after its
    last day (dates are inclusive), clipped to the period."""
    start = scope.local_midnight(discount.valid_from) if discount.valid_from else scope.period.start
    end = (
        scope.local_midnight(discount.valid_to + timedelta(days=1)) if discount.valid_to else scope.period.end
    )
    return max(start, scope.period.start), min(end, scope.period.end)


def cuts_for(scope: PeriodScope, sku_code: str) -> list[datetime]:
    """The instants strictly inside the period where a discount in the SKU's scope starts or ends."""
    cuts: set[datetime] = set()
    for discount in scope.doc.discounts:
        if discount.skus is not None and sku_code not in discount.skus:
            continue
        for edge in window(scope, discount):
            if scope.period.start < edge < scope.period.end:
                cuts.add(edge)
    return sorted(cuts)


def _stretches(scope: PeriodScope, cuts: list[datetime]) -> list[tuple[datetime, datetime]]:
    edges = [scope.period.start, *cuts, scope.period.end]
    return list(itertools.pairwise(edges))


def _version_label(scope: PeriodScope, version: ProfileVersion) -> str:
    """The price list's own effective dates (local): "price list v2, effective 2026-11-16 to 2026-12-14"
    (open-ended: "effective from 2026-11-16")."""
    zone = ZoneInfo(scope.tz)
    starts, versions = scope.cache.versions_for(version.profile_id, scope.tenant_id)
    began = next(
        (s for s, v in zip(starts, versions, strict=True) if v.pk == version.pk), version.effective_from
    )
    since = began.astimezone(zone).date()
    later = [s for s in starts if s > began]
    if not later:
        return f"price list v{version.number}, effective from {since:%Y-%m-%d}"
    until = (min(later) - _TICK).astimezone(zone).date()
    return f"price list v{version.number}, effective {since:%Y-%m-%d} to {until:%Y-%m-%d}"


def _stretch_label(scope: PeriodScope, start: datetime, end: datetime) -> str:
    zone = ZoneInfo(scope.tz)
    return f"{start.astimezone(zone):%Y-%m-%d} to {(end - _TICK).astimezone(zone):%Y-%m-%d}"


def usage_charges(scope: PeriodScope, usages: list[PeriodUsage]) -> tuple[list[Charge], str]:
    """Priced usage (see the module docstring) and a blocked reason ("" when fine)."""
    by_sku: dict[str, list[PeriodUsage]] = defaultdict(list)
    for usage in usages:  # ordered by SKU code, then the version's effective_from
        by_sku[usage.sku_code].append(usage)
    # Only flows are cut: a level (max, latest, unique count) is a state of the whole period, not of a
    # stretch, so its charge stays whole and a discount takes it only if its window covers the period.
    metered = scope.cache.skus_by_id({u.sku_id for u in usages})
    additive = {
        u.sku_code for u in usages if u.sku_id in metered and metered[u.sku_id].meter.aggregation in _FLOWS
    }
    cut_of = {code: cuts_for(scope, code) if code in additive else [] for code in by_sku}
    split: dict[tuple[datetime, datetime], dict[str, list[PeriodUsage]]] = {}
    if any(cut_of.values()):
        every = sorted({c for cuts in cut_of.values() for c in cuts})
        for start, end in _stretches(scope, every):
            part: dict[str, list[PeriodUsage]] = defaultdict(list)
            for usage in usage_selectors.period_usage(tenant_id=scope.tenant_id, start=start, end=end):
                part[usage.sku_code].append(usage)
            split[(start, end)] = part
    skus = scope.cache.sku_map(set(by_sku))
    charges: list[Charge] = []
    for code, whole in by_sku.items():
        pieces: list[tuple[datetime, datetime, PeriodUsage]] = []
        if cut_of[code]:
            for start, end in _stretches(scope, cut_of[code]):
                for (a, b), part in split.items():
                    if start <= a and b <= end:
                        pieces += [(a, b, u) for u in part.get(code, [])]
        else:
            pieces = [(scope.period.start, scope.period.end, u) for u in whole]
        priced: list[tuple[datetime, datetime, PeriodUsage, ProfileVersion, Segment]] = []
        for start, end, usage in pieces:
            version = scope.cache.version(usage.profile_version_id)
            doc = document_of(version)
            if doc.currency != scope.currency:
                return [], (
                    f"profile version {version.pk} is in {doc.currency}, the invoice in {scope.currency}: "
                    "a currency change inside a period needs a manual decision"
                )
            entry = doc.prices.get(code)
            if entry is None:
                return (
                    [],
                    f"profile version {version.pk} has no price for SKU {code!r} that was rated under it",
                )
            if isinstance(entry, FlatPrice):
                continue  # flat fees: `flat_charges`
            priced.append(
                (start, end, usage, version, Segment(entry, usage.quantity, usage.event_quantities))
            )
        try:
            results: tuple[PriceResult, ...] = price_segments([p[4] for p in priced])
        except PricingError as err:
            return [], f"pricing SKU {code!r} failed: {err}"
        sku = skus.get(code)
        versions = {p[3].pk for p in priced}
        for (start, end, usage, version, segment), result in zip(priced, results, strict=True):
            label = sku.name if sku else code
            notes = []
            if len(versions) > 1:
                notes.append(_version_label(scope, version))
            if cut_of[code]:
                notes.append(_stretch_label(scope, start, end))
            if notes:
                label = f"{label} ({'; '.join(notes)})"
            line = _line(
                scope.currency,
                kind=InvoiceLine.Kind.USAGE,
                description=label,
                amount_exact=result.amount,
                sku_code=code,
                service_category=sku.service_category if sku else "",
                profile_version_id=version.pk,
                quantity=usage.quantity,
                unit_label=sku.unit_label if sku else "",
                unit_price=segment.price.unit_amount if isinstance(segment.price, PerUnitPrice) else None,
                segment_start=usage.first_event_at,
                segment_end=usage.last_event_at,
                breakdown=result.breakdown_dicts(),
                component=component_of(InvoiceLine.Kind.USAGE, sku_code=code, version_id=version.pk),
            )
            charges.append(Charge(line, start, end, line.amount_exact))
    return charges, ""


def _day_owners(scope: PeriodScope) -> list[tuple[date, ProfileVersion | None]]:
    """Each local day of the period and the version in force at its first instant."""
    assignments = scope.cache.assignments_of(scope.tenant_id)
    days: list[tuple[date, ProfileVersion | None]] = []
    if _one_version_all_period(scope, assignments):
        day = scope.first_day
        while day <= scope.last_day:
            days.append((day, scope.version))
            day += timedelta(days=1)
        return days
    day = scope.first_day
    while day <= scope.last_day:
        at = max(scope.local_midnight(day), scope.period.start)
        days.append((day, version_at(assignments, at, scope.cache)))
        day += timedelta(days=1)
    return days


def _one_version_all_period(scope: PeriodScope, assignments: list[ProfileAssignment]) -> bool:
    """The common case, decided without a look-up per day: one assignment holds the whole period and no
    version of its profile starts inside it."""
    start, end = scope.period.start, scope.period.end
    held = assignment_holding([a.effective_from for a in assignments], assignments, start)
    if held is None or (held.effective_to is not None and held.effective_to < end):
        return False
    if any(start < a.effective_from < end for a in assignments):
        return False
    if version_at(assignments, start, scope.cache) != scope.version:
        return False
    starts, _versions = scope.cache.versions_for(held.profile_id, scope.tenant_id)
    return not any(start < s < end for s in starts)


def flat_charges(scope: PeriodScope) -> list[Charge]:
    """Flat fees (see the module docstring)."""
    owners = _day_owners(scope)
    period_days = len(owners)
    flat_codes: set[str] = set()
    for version in {v.pk: v for _d, v in owners if v is not None}.values():
        flat_codes |= {c for c, p in document_of(version).prices.items() if isinstance(p, FlatPrice)}
    flat_codes |= {c for c, p in scope.doc.prices.items() if isinstance(p, FlatPrice)}
    skus = scope.cache.sku_map(flat_codes)
    charges: list[Charge] = []
    for code in sorted(flat_codes):
        sku = skus.get(code)
        name = sku.name if sku else code
        governing = scope.doc.prices.get(code)
        if isinstance(governing, FlatPrice) and governing.proration == "none":
            charges.append(
                _flat(
                    scope,
                    code=code,
                    label=name,
                    version=scope.version,
                    amount=governing.amount,
                    sku=sku,
                    start=scope.period.start,
                    end=scope.period.end,
                )
            )
            continue
        runs: list[tuple[ProfileVersion, list[date]]] = []
        for day, owner in owners:
            if owner is None:
                continue
            if runs and runs[-1][0].pk == owner.pk and runs[-1][1][-1] == day - timedelta(days=1):
                runs[-1][1].append(day)
            else:
                runs.append((owner, [day]))
        split = len(runs) > 1 or (bool(runs) and len(runs[0][1]) != period_days)
        for version, days in runs:
            price = document_of(version).prices.get(code)
            if not isinstance(price, FlatPrice):
                continue
            start = max(scope.local_midnight(days[0]), scope.period.start)
            end = min(scope.local_midnight(days[-1] + timedelta(days=1)), scope.period.end)
            amount = prorate(price.amount, days=len(days), period_days=period_days)
            label = name
            if split:
                label = f"{name} ({_version_label(scope, version)}; {len(days)} of {period_days} days, {_stretch_label(scope, start, end)})"
            charges.append(
                _flat(
                    scope,
                    code=code,
                    label=label,
                    version=version,
                    amount=amount,
                    sku=sku,
                    start=start,
                    end=end,
                    days=len(days),
                )
            )
    return charges


def _flat(
    scope: PeriodScope,
    *,
    code: str,
    label: str,
    version: ProfileVersion,
    amount: Decimal,
    sku: Any,
    start: datetime,
    end: datetime,
    days: int | None = None,
) -> Charge:
    line = _line(
        scope.currency,
        kind=InvoiceLine.Kind.FLAT,
        description=label,
        amount_exact=amount,
        sku_code=code,
        service_category=sku.service_category if sku else "",
        profile_version_id=version.pk,
        quantity=Decimal(1) if days is None else Decimal(days),
        unit_label="period" if days is None else "days",
        unit_price=amount if days is None else None,
        component=component_of(InvoiceLine.Kind.FLAT, sku_code=code, version_id=version.pk),
    )
    return Charge(line, start, end, line.amount_exact)


def discount_lines(scope: PeriodScope, charges: list[Charge]) -> list[LineData]:
    """Discounts in precedence order: higher `priority` first (ties: document order). Each applies to
    the charges in its scope (`skus`, or every charge) whose stretch lies inside its window and that are
    not locked; a non-stackable discount also skips charges an earlier discount already reduced, and locks
    the charges it reduces against later discounts. Percentages apply to what earlier discounts left
    (sequential); a fixed amount takes at most what is left in its scope, spread pro rata."""
    ordered = sorted(enumerate(scope.doc.discounts), key=lambda item: (-item[1].priority, item[0]))
    skus = scope.cache.sku_map({c for _i, d in ordered for c in (d.skus or ())})
    result: list[LineData] = []
    with localcontext(WIDE_CONTEXT):
        for _index, discount in ordered:
            start, end = window(scope, discount)
            if start >= end:
                continue
            eligible = [
                c
                for c in charges
                if not c.locked
                and c.remaining > 0
                and start <= c.start
                and c.end <= end
                and (discount.skus is None or c.line.sku_code in discount.skus)
                and (discount.stackable or not c.discounted)
            ]
            base = sum((c.remaining for c in eligible), ZERO)
            if base <= 0:
                continue
            amount = (
                base * discount.percent / 100
                if discount.percent is not None
                else min(discount.amount or ZERO, base)
            )
            if amount <= 0:
                continue
            for c in eligible:
                c.remaining -= c.remaining * amount / base
                c.discounted = True
                c.locked = c.locked or not discount.stackable
            scope_text = (
                ", ".join(skus[c].name if c in skus else c for c in discount.skus)
                if discount.skus
                else "all charges"
            )
            what = f"{discount.percent.normalize():f} %" if discount.percent is not None else "fixed"
            result.append(
                _line(
                    scope.currency,
                    kind=InvoiceLine.Kind.DISCOUNT,
                    description=f"{discount.name or discount.code}: {what} on {scope_text}",
                    amount_exact=-amount,
                    discount_code=discount.code,
                    component=component_of(InvoiceLine.Kind.DISCOUNT, code=discount.code),
                )
            )
    return result


def minimum_line(scope: PeriodScope, lines: list[LineData]) -> list[LineData]:
    """True-up to the committed minimum, on the rounded lines so the period's total after discounts is
    exactly the minimum."""
    minimum = scope.doc.commitments.minimum_spend
    if minimum is None:
        return []
    minimum = quantize_money(minimum, scope.currency)
    spent = sum((line.amount for line in lines), ZERO)
    if spent >= minimum:
        return []
    return [
        _line(
            scope.currency,
            kind=InvoiceLine.Kind.MINIMUM,
            description=f"Minimum spend true-up to {minimum} {scope.currency}",
            amount_exact=minimum - spent,
            quantity=Decimal(1),
            unit_label="period",
            unit_price=minimum - spent,
            component=InvoiceLine.Kind.MINIMUM.value,
        )
    ]


def period_lines(scope: PeriodScope, usages: list[PeriodUsage]) -> tuple[list[LineData], str]:
    """Every line of the period (usage, flat fees, discounts, minimum) and a blocked reason."""
    charges, reason = usage_charges(scope, usages)
    if reason:
        return [], reason
    charges += flat_charges(scope)
    lines = [c.line for c in charges]
    lines += discount_lines(scope, charges)
    lines += minimum_line(scope, lines)
    return lines, ""


def with_tax(lines: list[LineData], *, category: str, rate: Decimal) -> list[LineData]:
    return [replace(line, tax_category=category, tax_rate=rate) for line in lines]
