"""Corrections of earlier periods (DESIGN.md, "Corrections"): usage that arrived late for a finalized
period re-computes that whole period (`period_lines`: usage, tier position, discounts, minimum spend)
with everything known now, under the version that governed its invoice. The correction is the
difference per component against the baseline, what was invoiced for the period as last corrected:
the original invoice's lines, plus correction lines on issued invoices, less correction credit notes.
Manual credit notes (goodwill, disputes) are not in the baseline: a re-pricing never takes them back.

Each changed component becomes a "Corrections to <number>" line carrying the quantity change, the amount
billed before and the amount re-priced, taxed at the rate its original line was taxed at. Stateless and
idempotent: a period corrected once yields no difference the next time."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Exists, OuterRef, Q

from billing.close.cache import CloseCache, document_of
from billing.close.lines import PeriodScope, component_of, period_lines
from billing.pricing import DocumentError
from billing.rating.models import BillingPeriod
from billing.rating.selectors import period_usage
from billing.usage.models import UsageEvent
from common.periods import Period
from ledger.contract import LineData
from ledger.models import CreditNote, CreditNoteLine, Invoice, InvoiceLine
from ledger.services.credit_notes import line_tax
from ledger.vat import category_for

ZERO = Decimal(0)


@dataclass
class _Component:
    amount: Decimal = ZERO
    quantity: Decimal | None = None
    tax: tuple[str, Decimal] | None = None
    template: LineData | InvoiceLine | None = None
    label: str = ""

    def add_quantity(self, quantity: Decimal | None) -> None:
        if quantity is not None:
            self.quantity = (self.quantity or ZERO) + quantity


@dataclass
class PeriodCorrection:
    """The correction lines of one earlier period (with its original invoice)."""

    original: Invoice
    period_key: str
    lines: list[LineData] = field(default_factory=list)


def _baseline(original: Invoice) -> dict[str, _Component]:
    """What the period was billed for, per component, as last corrected (rounded amounts): the original's
    lines, correction lines on issued invoices that point at it or at an earlier, voided invoice of the
    same period (a void credits that invoice, not the corrections billed elsewhere), less correction
    credit notes against it. Correction lines stored before components existed corrected usage: their
    component is derived from their SKU and version."""
    base: dict[str, _Component] = defaultdict(_Component)
    for line in InvoiceLine.objects.filter(invoice=original).exclude(kind=InvoiceLine.Kind.CORRECTION):
        key = line.component or component_of(
            line.kind, sku_code=line.sku_code, version_id=line.profile_version_id, code=line.discount_code
        )
        item = base[key]
        item.amount += line.amount
        item.add_quantity(line.quantity if line.kind == InvoiceLine.Kind.USAGE else None)
        item.tax = item.tax or line_tax(line, original)
        item.template = item.template or line
    same_period = Invoice.objects.filter(
        tenant_id=original.tenant_id, period_start=original.period_start, status=Invoice.Status.VOID
    ).values("pk")
    later = (
        InvoiceLine.objects.filter(kind=InvoiceLine.Kind.CORRECTION)
        .filter(Q(corrects_invoice=original) | Q(corrects_invoice__in=same_period))
        .exclude(invoice__status__in=[Invoice.Status.VOID, *Invoice.EDITABLE])
    )
    for line in later:
        key = line.component or component_of(
            InvoiceLine.Kind.USAGE, sku_code=line.sku_code, version_id=line.profile_version_id
        )
        item = base[key]
        item.amount += line.amount
        item.add_quantity(line.quantity)
        item.tax = item.tax or (line.tax_category, line.tax_rate or ZERO)
        item.template = item.template or line
    credited = CreditNoteLine.objects.filter(
        credit_note__invoice=original, credit_note__kind=CreditNote.Kind.CORRECTION
    ).exclude(component="")
    for credit in credited:
        item = base[credit.component]
        item.amount -= credit.amount
        if credit.quantity is not None:
            item.add_quantity(-credit.quantity)
    return base


def _issued_before_components(original: Invoice) -> bool:
    return not InvoiceLine.objects.filter(invoice=original).exclude(component="").exists() and (
        InvoiceLine.objects.filter(invoice=original).exists()
    )


def period_correction(
    *, original: Invoice, tenant_id: int, tz: str, period: Period, cache: CloseCache
) -> tuple[PeriodCorrection, str]:
    """The changed components of `original`'s period, re-priced now (see the module docstring)."""
    found = PeriodCorrection(original=original, period_key=original.period_key)
    if original.profile_version_id is None:
        return found, f"invoice {original.number} names no governing profile version"
    version = cache.version(original.profile_version_id)
    try:
        doc = document_of(version)
    except DocumentError as err:
        return (
            found,
            f"re-pricing {original.period_key}: profile version {version.pk} does not validate: {err}",
        )
    scope = PeriodScope(tenant_id=tenant_id, tz=tz, period=period, version=version, doc=doc, cache=cache)
    usages = period_usage(tenant_id=tenant_id, start=period.start, end=period.end)
    lines, reason = period_lines(scope, usages)
    if reason:
        return found, f"re-pricing {original.period_key}: {reason}"
    now: dict[str, _Component] = defaultdict(_Component)
    for line in lines:
        item = now[line.component]
        item.amount += line.amount
        item.add_quantity(line.quantity if line.kind == InvoiceLine.Kind.USAGE else None)
        item.template = item.template or line
        item.label = item.label or line.description
    base = _baseline(original)
    if _issued_before_components(original):
        # Invoiced under the earlier rules (flat fees whole, discounts by overlap, corrections of usage
        # only): re-pricing its other components by today's rules would bill differences no late usage
        # caused, so only its usage is corrected, as it was then.
        now = defaultdict(_Component, {k: v for k, v in now.items() if k.startswith("usage:")})
        base = defaultdict(_Component, {k: v for k, v in base.items() if k.startswith("usage:")})
    main_rate = original.tax_rate or ZERO
    main_tax = (category_for(rate=main_rate, reverse_charge=original.reverse_charge), main_rate)
    for key in sorted(set(now) | set(base)):
        after, before = now.get(key, _Component()), base.get(key, _Component())
        delta = after.amount - before.amount
        moved = (after.quantity or ZERO) - (before.quantity or ZERO)
        if delta == 0 and moved == 0:
            continue
        template = after.template or before.template
        category, rate = before.tax or main_tax
        label = after.label or (template.description if template is not None else key)
        found.lines.append(
            LineData(
                kind=InvoiceLine.Kind.CORRECTION,
                description=f"Corrections to {original.number} ({original.period_key}): {label}",
                amount_exact=delta,
                amount=delta,
                sku_code=getattr(template, "sku_code", ""),
                service_category=getattr(template, "service_category", ""),
                profile_version_id=getattr(template, "profile_version_id", None),
                quantity=moved if key.startswith("usage:") else None,
                unit_label=getattr(template, "unit_label", ""),
                corrects_invoice_id=original.pk,
                corrects_period=original.period_key,
                component=key,
                tax_category=category,
                tax_rate=rate,
                billed_before=before.amount,
                repriced=after.amount,
            )
        )
    return found, ""


def corrections_due(
    *, tenant_id: int, tz: str, before: Period, currency: str, tax_mode: str, cache: CloseCache
) -> tuple[list[PeriodCorrection], str]:
    """The corrections of every closed period before `before` that received late usage, oldest first."""
    late = UsageEvent.objects.filter(
        tenant_id=tenant_id,
        late=True,  # set by rating only
        status=UsageEvent.Status.ACCEPTED,
        timestamp__gte=OuterRef("start"),
        timestamp__lt=OuterRef("end"),
    )
    closed = BillingPeriod.objects.filter(
        tenant_id=tenant_id, status=BillingPeriod.Status.CLOSED, start__lt=before.start
    )
    result: list[PeriodCorrection] = []
    for row in closed.filter(Exists(late)).order_by("start"):
        original = (
            Invoice.objects.filter(tenant_id=tenant_id, period_start=row.start)
            .exclude(status__in=[Invoice.Status.VOID, *Invoice.EDITABLE])
            .first()
        )
        if original is None:
            continue
        if original.currency != currency:
            return [], f"late usage for {row.key} was invoiced in {original.currency}, not {currency}"
        if original.tax_mode != tax_mode:
            return [], (
                f"late usage for {row.key} was invoiced with {original.tax_mode} prices, this invoice has "
                f"{tax_mode} prices: a manual decision is needed"
            )
        correction, reason = period_correction(
            original=original,
            tenant_id=tenant_id,
            tz=tz,
            period=Period(row.key, row.start, row.end),
            cache=cache,
        )
        if reason:
            return [], reason
        if correction.lines:
            result.append(correction)
    return result, ""
