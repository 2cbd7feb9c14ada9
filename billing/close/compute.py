"""Assembling an invoice for one tenant and period, as plain data for the ledger (`InvoiceData`).

Order of operations (docs/invoicing.md):
 1. the period's own lines (billing/close/lines.py `period_lines`: usage by version and discount-window
    stretch, prorated flat fees, discounts, the minimum-spend true-up);
 2. corrections of earlier closed periods that received late usage (billing/close/corrections.py);
 3. tax as EN 16931 computes it (ledger/vat.py, BR-CO-17): every line carries its VAT category and
    rate (the tenant's jurisdiction's rule in force on the period's last local day; corrections keep the
    rate their period was invoiced at; reverse charge for EU B2B across a border), tax per rate over
    the rounded lines;
 4. no negative total: corrections that lower the amount more than the invoice can absorb are issued as
    credit notes against their original invoices (`CorrectionCredit`), most negative first;
 5. prepaid credits (the ledger applies them after tax); 6. FX to the base currency.
Every line is rounded once to the currency's minor unit (ROUND_HALF_UP). Nothing here writes."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal, localcontext

from django.conf import settings
from django.db.models import Sum

from billing.close import selectors as tax_selectors
from billing.close.cache import CloseCache, document_of
from billing.close.corrections import PeriodCorrection, corrections_due
from billing.close.fx import fx_verify
from billing.close.lines import PeriodScope, period_lines, with_tax
from billing.pricing import DocumentError
from billing.profiles.models import ProfileVersion
from billing.rating.selectors import PeriodUsage
from common.money import WIDE_CONTEXT
from common.periods import Period
from ledger.contract import CorrectionCredit, FxData, InvoiceData, LineData, TaxData, lines_vat
from ledger.models.journal import stored_amount
from ledger.vat import REVERSE_CHARGE_NOTE, VatRow, category_for, reverse_charge_applies
from tenants.models import Tenant

# CloseCache and document_of live in billing.close.cache; re-exported for callers of invoice_compute.
__all__ = ["CloseCache", "document_of", "fx_for", "invoice_compute"]

_RATE_PLACES = Decimal("1e-18")
ZERO = Decimal(0)


def _issuer_country() -> str:
    return str(getattr(settings, "INVOICE_ISSUER", {}).get("country", "DE"))


def _total(lines: list[LineData], *, inclusive: bool, currency: str) -> Decimal:
    subtotal = sum((line.amount for line in lines), ZERO)
    if inclusive:
        return subtotal
    rows = lines_vat(lines, inclusive=False, currency=currency)
    return subtotal + sum((row.tax for row in rows), ZERO)


def _absorb(
    own: list[LineData], corrections: list[PeriodCorrection], *, inclusive: bool, currency: str
) -> tuple[list[PeriodCorrection], list[PeriodCorrection]]:
    """(kept on the invoice, issued as credit notes): while the total would be negative, the correction
    with the largest net decrease leaves the invoice for a credit note."""
    kept = list(corrections)
    credited: list[PeriodCorrection] = []

    def lines() -> list[LineData]:
        return own + [line for c in kept for line in c.lines]

    while kept and _total(lines(), inclusive=inclusive, currency=currency) < 0:
        worst = min(kept, key=lambda c: sum((line.amount for line in c.lines), ZERO))
        if sum((line.amount for line in worst.lines), ZERO) >= 0:
            break
        kept.remove(worst)
        credited.append(worst)
    return kept, credited


def _credit(correction: PeriodCorrection, *, inclusive: bool, currency: str) -> tuple[CorrectionCredit, str]:
    vat = lines_vat(correction.lines, inclusive=inclusive, currency=currency)
    credit = CorrectionCredit(
        invoice_id=correction.original.pk, period_key=correction.period_key, lines=correction.lines, vat=vat
    )
    total = credit.subtotal if inclusive else credit.subtotal + credit.tax
    original = correction.original
    already = stored_amount(original.credit_notes.aggregate(s=Sum("total"))["s"])
    if total > original.total - already:
        return credit, (
            f"the correction of {correction.period_key} credits {total} {currency}, more than invoice "
            f"{original.number} has left to credit ({original.total - already}): a manual decision is needed"
        )
    return credit, ""


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
    can need a correction)."""
    cache = cache or CloseCache()
    reason = ""
    try:
        doc = document_of(version)
    except DocumentError as err:
        doc = None
        reason = f"profile version {version.pk} does not validate: {err}"
    currency = doc.currency if doc else tenant.currency
    blocked: list[str] = [reason] if reason else []
    # The place of supply is the tenant's tax jurisdiction (its country part), also for reverse charge.
    reverse = reverse_charge_applies(
        buyer_country=tenant.tax_jurisdiction[:2],
        buyer_vat_id=tenant.vat_id,
        seller_country=_issuer_country(),
    )

    def result(lines: list[LineData], **extra: object) -> InvoiceData:
        return InvoiceData(
            tenant_id=tenant.pk,
            period_key=period.key,
            period_start=period.start,
            period_end=period.end,
            currency=currency,
            profile_version_id=version.pk,
            lines=lines,
            blocked_reason="; ".join(blocked),
            period_first_day=scope.first_day if scope else None,
            period_last_day=scope.last_day if scope else None,
            payment_terms_days=tenant.payment_terms_days,
            seller_vat_id=str(getattr(settings, "INVOICE_ISSUER", {}).get("vat_id", "")),
            buyer_vat_id=tenant.vat_id,
            buyer_country=tenant.country,
            reverse_charge=reverse,
            tax_note=REVERSE_CHARGE_NOTE if reverse else "",
            **extra,  # type: ignore[arg-type]
        )

    scope: PeriodScope | None = None
    if doc is None:
        return result([], tax=None, fx=None)
    scope = PeriodScope(
        tenant_id=tenant.pk, tz=tenant.timezone, period=period, version=version, doc=doc, cache=cache
    )
    if doc.tax.jurisdiction is not None and doc.tax.jurisdiction != tenant.tax_jurisdiction:
        blocked.append(
            f"profile version {version.pk} names tax jurisdiction {doc.tax.jurisdiction}, the customer's "
            f"place of supply is {tenant.tax_jurisdiction}: remove it from the price list or fix the tenant"
        )
        return result([], tax=None, fx=None)
    if usages is None:
        usages = cache.period_usage(tenant_id=tenant.pk, start=period.start, end=period.end)
    own, reason = period_lines(scope, usages)
    if reason:
        blocked.append(reason)
        return result([], tax=None, fx=None)
    rule = None if reverse else cache.tax_rule(tenant.tax_jurisdiction, scope.last_day)
    if rule is None and not reverse:
        blocked.append(
            f"no tax rule in force for jurisdiction {tenant.tax_jurisdiction!r} on {scope.last_day}: "
            "add one (a 0% rule if the supply is untaxed), then refresh"
        )
    rate = ZERO if reverse or rule is None else rule.rate
    own = with_tax(own, category=category_for(rate=rate, reverse_charge=reverse), rate=rate)
    inclusive = doc.tax.mode == "inclusive"
    corrections: list[PeriodCorrection] = []
    if earlier_closed:
        corrections, reason = corrections_due(
            tenant_id=tenant.pk,
            tz=tenant.timezone,
            before=period,
            currency=currency,
            tax_mode=doc.tax.mode,
            cache=cache,
        )
        if reason:
            blocked.append(reason)
    kept, moved = _absorb(own, corrections, inclusive=inclusive, currency=currency)
    credits: list[CorrectionCredit] = []
    for correction in moved:
        credit, reason = _credit(correction, inclusive=inclusive, currency=currency)
        if reason:
            blocked.append(reason)
        credits.append(credit)
    lines = own + [line for c in kept for line in c.lines]
    vat: list[VatRow] = lines_vat(lines, inclusive=inclusive, currency=currency)
    tax: TaxData | None = None
    if rule is not None or reverse:
        with localcontext(WIDE_CONTEXT):
            exact = sum((row.tax_exact for row in vat), ZERO)
        tax = TaxData(
            jurisdiction=tenant.tax_jurisdiction,
            rate=rate,
            mode=doc.tax.mode,
            rule_id=rule.pk if rule is not None else None,
            exact=exact,
            total=sum((row.tax for row in vat), ZERO),
        )
    fx, reason = fx_for(currency=currency, on=scope.last_day, cache=cache)
    if reason:
        blocked.append(reason)
    return result(
        lines,
        tax=tax,
        fx=fx,
        vat=vat if tax is not None else [],
        corrected_invoices=[(c.original.pk, c.period_key) for c in kept],
        correction_credits=credits,
    )
