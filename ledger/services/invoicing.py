"""Invoices: saving the computed draft, finalizing it (number, credits, ledger postings), payment, void.

Billing computes the document (lines, tax, FX) and hands it over as plain data (`InvoiceData`); the
ledger stores it, checks its arithmetic, numbers it and posts it. The ledger never imports billing."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.utils import timezone

from common.errors import StateError, ValidationFailed
from common.money import quantize_money
from ledger.models import Alert, CorrectionMarker, Invoice, InvoiceLine, Transaction
from ledger.services import credits as credit_services
from ledger.services import posting
from ledger.services.invoice_rows import (
    apply_credit_plan,
    apply_fields,
    check_arithmetic,
    check_subtotal,
    enqueue_pdf,
    line_row,
)
from tenants.models import Tenant


@dataclass(frozen=True)
class LineData:
    kind: str
    description: str
    amount_exact: Decimal  # unrounded, in the invoice currency
    amount: Decimal  # rounded once to the currency's minor unit (ROUND_HALF_UP)
    sku_code: str = ""
    service_category: str = ""
    profile_version_id: int | None = None
    quantity: Decimal | None = None
    unit_label: str = ""
    unit_price: Decimal | None = None
    discount_code: str = ""
    segment_start: datetime | None = None
    segment_end: datetime | None = None
    breakdown: Sequence[Any] = ()
    corrects_invoice_id: int | None = None
    corrects_period: str = ""


@dataclass(frozen=True)
class TaxData:
    jurisdiction: str
    rate: Decimal  # percent
    mode: str  # exclusive | inclusive
    rule_id: int | None
    exact: Decimal  # unrounded tax over the unrounded line amounts
    total: Decimal  # rounded once


@dataclass(frozen=True)
class FxData:
    rate: Decimal  # 1 invoice currency = rate base currency
    rate_id: int | None
    rate_date: date | None
    source: str


@dataclass(frozen=True)
class InvoiceData:
    tenant_id: int
    period_key: str
    period_start: datetime
    period_end: datetime
    currency: str
    profile_version_id: int | None
    lines: Sequence[LineData]
    tax: TaxData | None
    fx: FxData | None
    blocked_reason: str = ""
    corrected_invoices: Sequence[tuple[int, str]] = field(default=())  # (original invoice id, period key)

    @property
    def subtotal(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal(0))

    @property
    def tax_total(self) -> Decimal:
        return self.tax.total if self.tax else Decimal(0)

    @property
    def total(self) -> Decimal:
        if self.tax and self.tax.mode == Invoice.TaxMode.INCLUSIVE:
            return self.subtotal
        return self.subtotal + self.tax_total


def invoice_for_period(*, tenant_id: int, period_start: datetime, lock: bool = False) -> Invoice | None:
    """The tenant's non-void invoice of the period starting at `period_start` (at most one exists)."""
    qs = Invoice.objects.filter(tenant_id=tenant_id, period_start=period_start).exclude(
        status=Invoice.Status.VOID
    )
    return (qs.select_for_update() if lock else qs).first()


_LOOK_UP = object()


def invoice_save_draft(
    *,
    data: InvoiceData,
    now: datetime | None = None,
    existing: Invoice | object | None = _LOOK_UP,
    plan_credits: bool = True,
) -> Invoice:
    """Create or recompute the tenant's draft (or blocked) invoice for the period. Credits are shown as
    planned, not consumed. An issued invoice for the period is never touched (StateError). `existing`:
    the period's invoice as already locked by the caller (None: there is none)."""
    invoice, _lines = invoice_save_draft_with_lines(
        data=data, now=now, existing=existing, plan_credits=plan_credits
    )
    return invoice


def invoice_save_draft_with_lines(
    *,
    data: InvoiceData,
    now: datetime | None = None,
    existing: Invoice | object | None = _LOOK_UP,
    plan_credits: bool = True,
) -> tuple[Invoice, list[InvoiceLine]]:
    """As `invoice_save_draft`, also returning the line rows exactly as inserted, so a close that
    finalizes in the same transaction need not read them back (`invoice_finalize(lines=...)`)."""
    check_arithmetic(data)
    now = now or timezone.now()
    with transaction.atomic(savepoint=False):
        invoice = (
            invoice_for_period(tenant_id=data.tenant_id, period_start=data.period_start, lock=True)
            if existing is _LOOK_UP
            else existing
        )
        assert invoice is None or isinstance(invoice, Invoice)
        if invoice is not None and invoice.is_issued:
            raise StateError(f"invoice {invoice.number} for {data.period_key} is already {invoice.status}")
        is_new = invoice is None
        if invoice is None:
            invoice = Invoice(tenant_id=data.tenant_id, period_start=data.period_start)
        apply_fields(invoice, data, now)
        plan = (
            credit_services.credits_plan(
                tenant_id=data.tenant_id, currency=data.currency, at=data.period_end, due=invoice.total
            )
            if plan_credits and not data.blocked_reason
            else []
        )
        invoice.credits_applied = sum((u.amount for u in plan), Decimal(0))
        invoice.amount_due = invoice.total - invoice.credits_applied
        invoice.save()
        if not is_new:
            InvoiceLine.objects.filter(invoice=invoice).delete()
        rows = InvoiceLine.objects.bulk_create(
            [line_row(invoice, i, line) for i, line in enumerate(data.lines, start=1)]
        )
        if data.blocked_reason:
            open_alert = Alert.objects.filter(
                invoice=invoice, kind=Alert.Kind.INVOICE_BLOCKED, resolved_at__isnull=True
            ).first()
            if open_alert is None or open_alert.message != data.blocked_reason:
                if open_alert is not None:
                    open_alert.resolved_at = now
                    open_alert.save(update_fields=["resolved_at"])
                Alert.objects.create(
                    kind=Alert.Kind.INVOICE_BLOCKED,
                    tenant_id=data.tenant_id,
                    invoice=invoice,
                    message=data.blocked_reason,
                    created_at=now,
                )
        elif not is_new:
            Alert.objects.filter(
                invoice=invoice, kind=Alert.Kind.INVOICE_BLOCKED, resolved_at__isnull=True
            ).update(resolved_at=now)
    return invoice, rows


_NEXT_NUMBER_SQL = (
    "INSERT INTO ledger_invoicecounter (series, year, last) VALUES (%s, %s, 1) "
    "ON CONFLICT (series, year) DO UPDATE SET last = ledger_invoicecounter.last + 1 "
    "RETURNING last"
)


def invoice_number_next(*, series: str, year: int) -> str:
    """The next number of a series, drawn with one upsert (INSERT ... ON CONFLICT DO UPDATE ... RETURNING
    on both engines). The counter row stays locked until the caller's transaction ends, so concurrent
    finalizations queue on it, and a rollback gives the number back: sequential and gapless."""
    if not transaction.get_connection().in_atomic_block:
        raise StateError("invoice numbers are drawn inside the finalizing transaction")
    with connection.cursor() as cursor:
        cursor.execute(_NEXT_NUMBER_SQL, [series, year])
        row = cursor.fetchone()
    assert row is not None
    return f"{series}-{year}-{int(row[0]):06d}"


def allocate(total: Decimal, weights: Sequence[Decimal], currency: str) -> list[Decimal]:
    """Split `total` across `weights` proportionally, each share rounded once, the residual on the largest
    weight so the shares sum to `total` exactly."""
    if not weights:
        return []
    base = sum((abs(w) for w in weights), Decimal(0))
    if base == 0:
        shares = [Decimal(0)] * len(weights)
        shares[0] = total
        return shares
    shares = [quantize_money(total * abs(w) / base, currency) for w in weights]
    biggest = max(range(len(weights)), key=lambda i: abs(weights[i]))
    shares[biggest] += total - sum(shares, Decimal(0))
    return shares


def revenue_legs(
    *,
    lines: Sequence[tuple[str, str, Decimal]],
    tax: Decimal,
    jurisdiction: str,
    inclusive: bool,
    currency: str,
) -> list[posting.Leg]:
    """Credit legs for (kind, service category, amount) lines and the tax: revenue per category, the
    discounts contra-revenue account, tax payable. With inclusive tax the tax is carved out of the
    revenue categories in proportion to their amounts. Signs as for an invoice (credits negative)."""
    by_category: dict[str, Decimal] = defaultdict(Decimal)
    discounts = Decimal(0)
    for kind, category, amount in lines:
        if kind == InvoiceLine.Kind.DISCOUNT:
            discounts += amount
        else:
            by_category[category or "Other"] += amount
    categories = sorted(by_category)
    amounts = [by_category[c] for c in categories]
    if inclusive and tax:
        for i, share in enumerate(allocate(tax, amounts, currency)):
            amounts[i] -= share
    legs = [posting.Leg(posting.revenue(c), -a) for c, a in zip(categories, amounts, strict=True)]
    legs.append(posting.Leg(posting.DISCOUNTS, -discounts))
    legs.append(posting.Leg(posting.tax_payable(jurisdiction or "none"), -tax))
    return legs


def year_in(tz: str, at: datetime) -> int:
    """The calendar year of instant `at` in time zone `tz` (numbering series restart with it)."""
    return at.astimezone(ZoneInfo(tz)).year


def series_for(tenant: Tenant) -> str:
    return tenant.slug.upper().replace("_", "-")


def invoice_posting(
    invoice: Invoice, *, tenant: Tenant, lines: Sequence[InvoiceLine], booked_at: datetime
) -> posting.PostingRequest:
    """The ledger transaction of a finalized invoice: Dr the tenant's receivable for the total, Cr revenue
    per line kind and category and Cr tax, in the invoice's currency at its FX rate."""
    legs = [posting.Leg(posting.receivable(tenant.pk, tenant.slug), invoice.total)]
    legs += revenue_legs(
        lines=[(line.kind, line.service_category, line.amount) for line in lines],
        tax=invoice.tax_total,
        jurisdiction=invoice.tax_jurisdiction,
        inclusive=invoice.tax_mode == Invoice.TaxMode.INCLUSIVE,
        currency=invoice.currency,
    )
    return posting.PostingRequest(
        kind=Transaction.Kind.INVOICE,
        legs=legs,
        currency=invoice.currency,
        fx_rate=invoice.fx_rate or Decimal(1),
        tenant_id=tenant.pk,
        reference=invoice.number or "",  # numbered before it is posted
        memo=f"invoice {invoice.period_key}",
        booked_at=booked_at,
    )


def invoice_finalize(
    *,
    invoice: Invoice,
    tenant: Tenant,
    now: datetime | None = None,
    locked: bool = False,
    lines: Sequence[InvoiceLine] | None = None,
) -> Invoice:
    """draft -> finalized: draw the number, consume prepaid credits (locked), post the invoice to the
    ledger, record corrections, and schedule the PDF after commit. The caller holds the tenant lock;
    `locked=True`: `invoice` is the current row, already locked in the caller's transaction. `lines`
    (only with `locked=True`): the invoice's lines as just inserted in this same transaction (from
    `invoice_save_draft_with_lines`), so they are not read back; the database still checks at the
    status change that the stored lines sum to the subtotal."""
    now = now or timezone.now()
    with transaction.atomic(savepoint=False):
        if not locked:
            invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
        if invoice.status != Invoice.Status.DRAFT:
            raise StateError(f"only a draft invoice can be finalized (it is {invoice.status})")
        if lines is None or not locked:
            lines = list(InvoiceLine.objects.filter(invoice=invoice))
        elif any(line.invoice_id != invoice.pk for line in lines):
            raise StateError("lines handed to invoice_finalize belong to another invoice")
        check_subtotal(invoice, lines)
        invoice.number = invoice_number_next(series=series_for(tenant), year=year_in(tenant.timezone, now))
        invoice.finalized_at = now
        plan = credit_services.credits_plan(
            tenant_id=invoice.tenant_id,
            currency=invoice.currency,
            at=invoice.period_end,
            due=invoice.total,
            lock=True,
        )
        apply_credit_plan(invoice, plan)
        (invoice.ledger_transaction,) = posting.transactions_post(
            [invoice_posting(invoice, tenant=tenant, lines=lines, booked_at=now)]
        )
        invoice.status = Invoice.Status.FINALIZED
        invoice.pdf_version += 1
        invoice.save()
        credit_services.credits_consume(invoice=invoice, plan=plan, tenant_slug=tenant.slug, at=now)
        originals = {
            line.corrects_invoice_id: line.corrects_period for line in lines if line.corrects_invoice_id
        }
        if originals:
            CorrectionMarker.objects.bulk_create(
                [
                    CorrectionMarker(original_id=oid, correcting=invoice, period_key=key, created_at=now)
                    for oid, key in originals.items()
                ]
            )
        invoice_id = invoice.pk
        transaction.on_commit(lambda: enqueue_pdf(invoice_id))
    return invoice


def invoice_mark_paid(*, invoice: Invoice, paid_at: datetime | None = None) -> Invoice:
    """finalized -> paid: Dr cash, Cr receivable for the amount due."""
    paid_at = paid_at or timezone.now()
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().select_related("tenant").get(pk=invoice.pk)
        if invoice.status != Invoice.Status.FINALIZED:
            raise StateError(f"only a finalized invoice can be paid (it is {invoice.status})")
        posting.transaction_post(
            kind=Transaction.Kind.PAYMENT,
            legs=[
                posting.Leg(posting.CASH, invoice.amount_due),
                posting.Leg(posting.receivable(invoice.tenant_id, invoice.tenant.slug), -invoice.amount_due),
            ],
            currency=invoice.currency,
            fx_rate=invoice.fx_rate or Decimal(1),
            tenant_id=invoice.tenant_id,
            reference=invoice.number or "",
            memo="payment",
            booked_at=paid_at,
        )
        invoice.status = Invoice.Status.PAID
        invoice.paid_at = paid_at
        invoice.save(update_fields=["status", "paid_at"])
    return invoice


def invoice_void(*, invoice: Invoice, reason: str, now: datetime | None = None) -> Invoice:
    """finalized | paid -> void, with a full credit note for whatever earlier credit notes left."""
    from ledger.services.credit_notes import credit_note_create

    if not reason.strip():
        raise ValidationFailed("voiding an invoice needs a reason")
    now = now or timezone.now()
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
        if invoice.status not in (Invoice.Status.FINALIZED, Invoice.Status.PAID):
            raise StateError(f"only a finalized or paid invoice can be voided (it is {invoice.status})")
        credit_note_create(invoice=invoice, reason=f"void: {reason}", lines=None, now=now, allow_empty=True)
        # The credit note takes back the whole total; the part that prepaid credit paid goes back to
        # the grants (otherwise the receivable would end negative and the credit would be lost).
        credit_services.credits_restore(invoice=invoice, tenant_slug=invoice.tenant.slug, at=now)
        invoice.status = Invoice.Status.VOID
        invoice.voided_at = now
        invoice.void_reason = reason
        invoice.pdf_version += 1
        invoice.save(update_fields=["status", "voided_at", "void_reason", "pdf_version"])
        invoice_id = invoice.pk
        transaction.on_commit(lambda: enqueue_pdf(invoice_id))
    return invoice
