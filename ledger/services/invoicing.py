"""Invoices of one tenant through their states: the computed draft saved (or blocked), finalized
(number, prepaid credits, ledger posting, PDF), paid, voided (with a full credit note).

Billing computes the document and hands it over as plain data (`ledger.contract.InvoiceData`); the ledger
checks it, stores it, numbers it and posts it. The ledger never imports billing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from common.errors import StateError, ValidationFailed
from ledger.contract import CorrectionCredit, InvoiceData, invoice_data_check
from ledger.models import (
    Alert,
    ChainAnchor,
    CorrectionMarker,
    Invoice,
    InvoiceLine,
    TaxBreakdown,
    Transaction,
)
from ledger.services import credits as credit_services
from ledger.services import posting
from ledger.services.alerts import alert_fire, alerts_resolve_for_invoices
from ledger.services.anchors import chain_anchor_record
from ledger.services.corrections import correction_credit_notes_issue, originals_lock
from ledger.services.credit_notes import credit_note_create
from ledger.services.documents import pdf_enqueue
from ledger.services.invoice_rows import (
    apply_credit_plan,
    apply_fields,
    check_subtotal,
    line_row,
    set_issue_dates,
    tax_rows,
)
from ledger.services.numbering import invoice_number_next, series_for, year_in
from ledger.services.revenue import invoice_posting
from tenants.models import Tenant


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
    invoice_data_check(data)
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
        apply_credit_plan(invoice, plan)
        invoice.save()
        if not is_new:
            InvoiceLine.objects.filter(invoice=invoice).delete()
            TaxBreakdown.objects.filter(invoice=invoice).delete()
        rows = InvoiceLine.objects.bulk_create(
            [line_row(invoice, i, line) for i, line in enumerate(data.lines, start=1)]
        )
        TaxBreakdown.objects.bulk_create(tax_rows(invoice, data.vat))
        if data.blocked_reason:
            alert_fire(
                kind=Alert.Kind.INVOICE_BLOCKED,
                tenant_id=data.tenant_id,
                key=f"invoice:{invoice.pk}",
                message=data.blocked_reason,
                invoice_id=invoice.pk,
                now=now,
            )
        elif not is_new:
            alerts_resolve_for_invoices(kind=Alert.Kind.INVOICE_BLOCKED, invoice_ids=[invoice.pk], now=now)
    return invoice, rows


def invoice_finalize(
    *,
    invoice: Invoice,
    tenant: Tenant,
    now: datetime | None = None,
    locked: bool = False,
    lines: Sequence[InvoiceLine] | None = None,
    credits: Sequence[CorrectionCredit] = (),
) -> Invoice:
    """draft -> finalized: draw the number, consume prepaid credits (locked), post the invoice to the
    ledger, record corrections, and schedule the PDF after commit. The caller holds the tenant lock;
    `locked=True`: `invoice` is the current row, already locked in the caller's transaction. `lines`
    (only with `locked=True`): the invoice's lines as just inserted in this same transaction (from
    `invoice_save_draft_with_lines`), so they are not read back; the database still checks at the
    status change that the stored lines sum to the subtotal. `credits`: the correction credit notes the
    computed document asked for (`InvoiceData.correction_credits`), issued in the same transaction."""
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
        originals_lock(
            {line.corrects_invoice_id for line in lines if line.corrects_invoice_id}
            | {credit.invoice_id for credit in credits}
        )
        invoice.number = invoice_number_next(series=series_for(tenant), year=year_in(tenant.timezone, now))
        invoice.finalized_at = now
        set_issue_dates(invoice, tenant, now)
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
        markers = [
            CorrectionMarker(original_id=oid, correcting=invoice, period_key=key, created_at=now)
            for oid, key in originals.items()
        ]
        markers += correction_credit_notes_issue(invoice=invoice, credits=credits, now=now)
        if markers:
            CorrectionMarker.objects.bulk_create(markers)
        pdf_enqueue([invoice.pk], on_issue=True)
    return invoice


def invoice_mark_paid(*, invoice: Invoice, paid_at: datetime | None = None) -> Invoice:
    """finalized -> paid: Dr cash, Cr receivable for the amount due; the chain head is anchored in the same
    transaction (`chain_anchor_record`)."""
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
        chain_anchor_record(reason=ChainAnchor.Reason.PAYMENT)
    return invoice


def invoice_void(*, invoice: Invoice, reason: str, now: datetime | None = None) -> Invoice:
    """finalized | paid -> void, with a full credit note for whatever earlier credit notes left."""
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
        pdf_enqueue([invoice.pk], on_issue=True)
    return invoice
