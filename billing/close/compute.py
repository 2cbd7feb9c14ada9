"""Assembling an invoice for one tenant and period, as plain data for the ledger (`InvoiceData`).

Order of operations (docs/invoicing.md):
 1. usage lines: one per (SKU, profile version segment) from `period_usage`, priced by the pricing
    engine with the tier position carried across segments (`price_segments`);
 2. flat fees of the version in force at the period end, once per period;
 3. discounts of that version, each its own line, before tax;
 4. the minimum-spend true-up;
 5. corrections of earlier closed periods that received late usage;
 6. tax (rule of the tenant's jurisdiction in force on the period's last local day) from the unrounded
    line amounts; 7. prepaid credits (the ledger applies them after tax); 8. FX to the base currency.
Every line is rounded once to the currency's minor unit (ROUND_HALF_UP). Nothing here writes."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Exists, OuterRef, Sum

from billing.close import selectors as tax_selectors
from billing.close.cache import CloseCache, document_of
from billing.close.fx import fx_verify
from billing.close.tax import tax_rounded
from billing.pricing import (
    DocumentError,
    FlatPrice,
    PerUnitPrice,
    PriceResult,
    PricingError,
    ProfileDocument,
    Segment,
    price_segments,
)
from billing.profiles.models import ProfileVersion
from billing.rating.models import BillingPeriod
from billing.rating.selectors import PeriodUsage, period_usage
from billing.usage.models import UsageEvent
from common.money import WIDE_CONTEXT, quantize_money
from common.periods import Period
from ledger.contract import FxData, InvoiceData, LineData, TaxData
from ledger.models import Invoice, InvoiceLine
from ledger.models.journal import stored_amount
from tenants.models import Tenant

# CloseCache and document_of live in billing.close.cache; re-exported for callers of invoice_compute.
__all__ = [
    "CloseCache",
    "correction_lines",
    "discount_lines",
    "document_of",
    "first_local_day",
    "flat_lines",
    "fx_for",
    "invoice_compute",
    "last_local_day",
    "minimum_line",
    "usage_lines",
]

_RATE_PLACES = Decimal("1e-18")
ZERO = Decimal(0)


def last_local_day(period: Period, tz: str) -> date:
    return (period.end - timedelta(microseconds=1)).astimezone(ZoneInfo(tz)).date()


def first_local_day(period: Period, tz: str) -> date:
    return period.start.astimezone(ZoneInfo(tz)).date()


@dataclass
class _Draft:
    """A line while discounts are being applied: `remaining` is what later discounts may still take."""

    line: LineData
    remaining: Decimal
    discounted: bool = False
    locked: bool = False


def _line(currency: str, **kwargs: Any) -> LineData:
    exact: Decimal = kwargs.pop("amount_exact")
    return LineData(amount_exact=exact, amount=quantize_money(exact, currency), **kwargs)


def _version_label(version: ProfileVersion) -> str:
    return f"v{version.number}"


def usage_lines(
    *, usages: list[PeriodUsage], currency: str, cache: CloseCache
) -> tuple[list[LineData], dict[tuple[str, int], Decimal], str]:
    """Priced usage lines (one per SKU and version segment), the exact amount per (sku, version), and a
    blocked reason ("" when fine)."""
    by_sku: dict[str, list[PeriodUsage]] = defaultdict(list)
    for usage in usages:  # already ordered by SKU code, then the version's effective_from
        by_sku[usage.sku_code].append(usage)
    skus = cache.sku_map(set(by_sku))
    lines: list[LineData] = []
    exact: dict[tuple[str, int], Decimal] = {}
    for code, segments in by_sku.items():
        priced: list[tuple[PeriodUsage, ProfileVersion, Segment]] = []
        for usage in segments:
            version = cache.version(usage.profile_version_id)
            doc = document_of(version)
            if doc.currency != currency:
                return (
                    [],
                    {},
                    (
                        f"profile version {version.pk} is in {doc.currency}, the invoice in {currency}: "
                        "a currency change inside a period needs a manual decision"
                    ),
                )
            entry = doc.prices.get(code)
            if entry is None:
                return (
                    [],
                    {},
                    f"profile version {version.pk} has no price for SKU {code!r} that was rated under it",
                )
            if isinstance(entry, FlatPrice):
                continue  # flat fees are charged once per period from the version in force at its end
            priced.append((usage, version, Segment(entry, usage.quantity, usage.event_quantities)))
        try:
            results: tuple[PriceResult, ...] = price_segments([p[2] for p in priced])
        except PricingError as err:
            return [], {}, f"pricing SKU {code!r} failed: {err}"
        sku = skus.get(code)
        for (usage, version, segment), result in zip(priced, results, strict=True):
            label = sku.name if sku else code
            if len(priced) > 1:
                label = f"{label} ({_version_label(version)}, from {usage.first_event_at:%Y-%m-%d})"
            lines.append(
                _line(
                    currency,
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
                )
            )
            exact[(code, version.pk)] = result.amount
    return lines, exact, ""


def flat_lines(
    *, doc: ProfileDocument, version: ProfileVersion, currency: str, cache: CloseCache
) -> list[LineData]:
    flats = [(code, p) for code, p in doc.prices.items() if isinstance(p, FlatPrice)]
    skus = cache.sku_map({code for code, _ in flats})
    return [
        _line(
            currency,
            kind=InvoiceLine.Kind.FLAT,
            description=skus[code].name if code in skus else code,
            amount_exact=p.amount,
            sku_code=code,
            service_category=skus[code].service_category if code in skus else "",
            profile_version_id=version.pk,
            quantity=Decimal(1),
            unit_price=p.amount,
        )
        for code, p in flats
    ]


def discount_lines(
    *, doc: ProfileDocument, charges: list[LineData], currency: str, first_day: date, last_day: date
) -> list[LineData]:
    """Discounts valid on any day of the period, in precedence order: higher `priority` first (ties:
    document order). Each applies to the charge lines in its scope (`skus`, or every charge) that are
    not locked; a non-stackable discount also skips lines an earlier discount already reduced, and locks
    the lines it reduces against later discounts. Percentages apply to what earlier discounts left
    (sequential); a fixed amount takes at most what is left in its scope, spread pro rata."""
    drafts = [_Draft(line, line.amount_exact) for line in charges]
    ordered = sorted(enumerate(doc.discounts), key=lambda item: (-item[1].priority, item[0]))
    result: list[LineData] = []
    with localcontext(WIDE_CONTEXT):
        for _index, discount in ordered:
            in_window = (discount.valid_from is None or discount.valid_from <= last_day) and (
                discount.valid_to is None or discount.valid_to >= first_day
            )
            if not in_window:
                continue
            eligible = [
                d
                for d in drafts
                if not d.locked
                and d.remaining > 0
                and (discount.skus is None or d.line.sku_code in discount.skus)
                and (discount.stackable or not d.discounted)
            ]
            base = sum((d.remaining for d in eligible), ZERO)
            if base <= 0:
                continue
            if discount.percent is not None:
                amount = base * discount.percent / 100
            else:
                amount = min(discount.amount or ZERO, base)
            if amount <= 0:
                continue
            for d in eligible:
                d.remaining -= d.remaining * amount / base
                d.discounted = True
                d.locked = d.locked or not discount.stackable
            scope = ", ".join(discount.skus) if discount.skus else "whole invoice"
            what = f"{discount.percent.normalize():f}%" if discount.percent is not None else "fixed"
            result.append(
                _line(
                    currency,
                    kind=InvoiceLine.Kind.DISCOUNT,
                    description=f"{discount.code} ({what}, {scope})",
                    amount_exact=-amount,
                    discount_code=discount.code,
                )
            )
    return result


def minimum_line(*, doc: ProfileDocument, lines: list[LineData], currency: str) -> list[LineData]:
    """True-up to the committed minimum: computed on the rounded lines so the period's total after
    discounts is exactly the minimum."""
    minimum = doc.commitments.minimum_spend
    if minimum is None:
        return []
    minimum = quantize_money(minimum, currency)
    spent = sum((line.amount for line in lines), ZERO)
    if spent >= minimum:
        return []
    return [
        _line(
            currency,
            kind=InvoiceLine.Kind.MINIMUM,
            description=f"Minimum spend true-up to {minimum} {currency}",
            amount_exact=minimum - spent,
        )
    ]


def correction_lines(
    *, tenant: Tenant, period: Period, currency: str, cache: CloseCache
) -> tuple[list[LineData], list[tuple[int, str]], str]:
    """Late usage of earlier closed periods: for each such period, the repriced amount per (SKU, version)
    less what its invoice and earlier corrections already charged. Stateless and idempotent: a period
    corrected once yields a zero difference the next time."""
    late = UsageEvent.objects.filter(
        tenant_id=tenant.pk,
        late=True,  # set by rating only
        status=UsageEvent.Status.ACCEPTED,
        timestamp__gte=OuterRef("start"),
        timestamp__lt=OuterRef("end"),
    )
    closed_before = BillingPeriod.objects.filter(
        tenant_id=tenant.pk, status=BillingPeriod.Status.CLOSED, start__lt=period.start
    )
    if not closed_before.exists():  # a tenant's first invoice: nothing can be late yet
        return [], [], ""
    periods = list(closed_before.filter(Exists(late)).order_by("start"))
    lines: list[LineData] = []
    corrected: list[tuple[int, str]] = []
    for closed in periods:
        original = (
            Invoice.objects.filter(tenant_id=tenant.pk, period_start=closed.start)
            .exclude(status__in=[Invoice.Status.VOID, *Invoice.EDITABLE])
            .first()
        )
        if original is None:
            continue
        if original.currency != currency:
            return [], [], f"late usage for {closed.key} was invoiced in {original.currency}, not {currency}"
        usages = period_usage(tenant_id=tenant.pk, start=closed.start, end=closed.end)
        _lines, repriced, reason = usage_lines(usages=usages, currency=currency, cache=cache)
        if reason:
            return [], [], f"re-pricing {closed.key}: {reason}"
        billed: dict[tuple[str, int | None], Decimal] = defaultdict(Decimal)
        for row in (
            InvoiceLine.objects.filter(invoice=original, kind=InvoiceLine.Kind.USAGE)
            .values("sku_code", "profile_version_id")
            .annotate(total=Sum("amount"))
        ):
            billed[(row["sku_code"], row["profile_version_id"])] += stored_amount(row["total"])
        for row in (
            InvoiceLine.objects.filter(corrects_invoice=original, kind=InvoiceLine.Kind.CORRECTION)
            .exclude(invoice__status__in=[Invoice.Status.VOID, *Invoice.EDITABLE])
            .values("sku_code", "profile_version_id")
            .annotate(total=Sum("amount"))
        ):
            billed[(row["sku_code"], row["profile_version_id"])] += stored_amount(row["total"])
        skus = cache.sku_map({code for code, _v in repriced})
        added = False
        for (code, version_id), amount in sorted(repriced.items()):
            delta = quantize_money(amount, currency) - billed.get((code, version_id), ZERO)
            if delta == 0:
                continue
            sku = skus.get(code)
            lines.append(
                _line(
                    currency,
                    kind=InvoiceLine.Kind.CORRECTION,
                    description=f"Late usage of {sku.name if sku else code} in {closed.key}",
                    amount_exact=delta,
                    sku_code=code,
                    service_category=sku.service_category if sku else "",
                    profile_version_id=version_id,
                    corrects_invoice_id=original.pk,
                    corrects_period=closed.key,
                )
            )
            added = True
        if added:
            corrected.append((original.pk, closed.key))
    return lines, corrected, ""


def fx_for(*, currency: str, on: date, cache: CloseCache) -> tuple[FxData | None, str]:
    base = settings.LEDGER_BASE_CURRENCY
    if currency == base:
        return FxData(rate=Decimal(1), rate_id=None, rate_date=None, source="identity"), ""
    row = cache.fx_rate(currency, base, on)
    if row is None:
        return None, (
            f"no exchange rate {currency}/{base} dated {on} or up to "
            f"{tax_selectors.FX_LOOKBACK_DAYS - 1} days before: add a signed rate, then refresh"
        )
    if not row.signature:
        return None, f"exchange rate #{row.pk} {row.base}/{row.quote} of {row.date} is unsigned"
    if not fx_verify(row):
        return (
            None,
            f"exchange rate #{row.pk} {row.base}/{row.quote} of {row.date}: signature does not verify",
        )
    with localcontext(WIDE_CONTEXT):
        rate = row.rate if row.base == currency else Decimal(1) / row.rate
    return FxData(
        rate=rate.quantize(_RATE_PLACES, rounding=ROUND_HALF_UP),
        rate_id=row.pk,
        rate_date=row.date,
        source=row.source,
    ), ""


def invoice_compute(
    *,
    tenant: Tenant,
    period: Period,
    version: ProfileVersion,
    cache: CloseCache | None = None,
    usages: list[PeriodUsage] | None = None,
    earlier_closed: bool = True,
) -> InvoiceData:
    """The whole invoice of `tenant` for `period`, governed by `version` (in force at the period end).
    A batch close that already read, under the tenant's lock, the period's usage passes it as `usages`,
    and `earlier_closed=False` when the tenant has no closed period before this one (then no late usage
    can need a correction and `correction_lines` is skipped)."""
    cache = cache or CloseCache()
    try:
        doc = document_of(version)
    except DocumentError as err:
        doc = None
        reason = f"profile version {version.pk} does not validate: {err}"
    currency = doc.currency if doc else tenant.currency
    blocked: list[str] = [] if doc else [reason]

    def empty(reasons: list[str]) -> InvoiceData:
        return InvoiceData(
            tenant_id=tenant.pk,
            period_key=period.key,
            period_start=period.start,
            period_end=period.end,
            currency=currency,
            profile_version_id=version.pk,
            lines=[],
            tax=None,
            fx=None,
            blocked_reason="; ".join(reasons),
        )

    if doc is None:
        return empty(blocked)
    first_day, last_day = first_local_day(period, tenant.timezone), last_local_day(period, tenant.timezone)
    if usages is None:
        usages = cache.period_usage(tenant_id=tenant.pk, start=period.start, end=period.end)
    charges, _exact, reason = usage_lines(usages=usages, currency=currency, cache=cache)
    if reason:
        return empty([reason])
    charges += flat_lines(doc=doc, version=version, currency=currency, cache=cache)
    lines = charges + discount_lines(
        doc=doc, charges=charges, currency=currency, first_day=first_day, last_day=last_day
    )
    lines += minimum_line(doc=doc, lines=lines, currency=currency)
    corrections, corrected, reason = (
        correction_lines(tenant=tenant, period=period, currency=currency, cache=cache)
        if earlier_closed
        else ([], [], "")
    )
    if reason:
        blocked.append(reason)
    lines += corrections
    rule = cache.tax_rule(tenant.tax_jurisdiction, last_day)
    tax: TaxData | None = None
    if rule is None:
        blocked.append(
            f"no tax rule in force for jurisdiction {tenant.tax_jurisdiction!r} on {last_day}: "
            "add one (a 0% rule if the supply is untaxed), then refresh"
        )
    else:
        exact, rounded = tax_rounded(
            amounts=[line.amount_exact for line in lines],
            rate=rule.rate,
            mode=doc.tax.mode,
            currency=currency,
        )
        tax = TaxData(
            jurisdiction=rule.jurisdiction,
            rate=rule.rate,
            mode=doc.tax.mode,
            rule_id=rule.pk,
            exact=exact,
            total=rounded,
        )
    fx, reason = fx_for(currency=currency, on=last_day, cache=cache)
    if reason:
        blocked.append(reason)
    return InvoiceData(
        tenant_id=tenant.pk,
        period_key=period.key,
        period_start=period.start,
        period_end=period.end,
        currency=currency,
        profile_version_id=version.pk,
        lines=lines,
        tax=tax,
        fx=fx,
        blocked_reason="; ".join(blocked),
        corrected_invoices=corrected,
    )
