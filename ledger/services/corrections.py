"""Correction credit notes: an earlier period re-priced lower than it was invoiced, by more than the
correcting invoice can absorb without going below zero (billing decides which, `CorrectionCredit`), is
credited against its original invoice when the correcting invoice is finalized, in the same transaction.
Its lines carry the corrected components, so the next re-pricing of that period counts the credit in
its baseline and never credits twice."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from common.errors import StateError
from ledger.contract import CorrectionCredit, LineData
from ledger.models import CorrectionMarker, CreditNote, Invoice
from ledger.services.credit_notes import CreditLine, credit_note_issue
from ledger.services.revenue import posting_kind
from ledger.vat import VatRow


def _credit_line(line: LineData) -> CreditLine:
    return CreditLine(
        description=line.description,
        amount=-line.amount,
        kind=posting_kind(line.kind, line.component),
        service_category=line.service_category,
        tax_category=line.tax_category,
        tax_rate=line.tax_rate or Decimal(0),
        component=line.component,
        quantity=-line.quantity if line.quantity is not None else None,
        unit_label=line.unit_label,
        billed_before=line.billed_before,
        repriced=line.repriced,
    )


def _credit_row(row: VatRow) -> VatRow:
    return VatRow(
        row.category,
        row.rate,
        -row.taxable,
        -row.tax,
        -row.gross,
        -row.rounding,
        row.exemption_reason,
        row.exemption_code,
    )


def originals_lock(invoice_ids: set[int]) -> None:
    """Lock the invoices a correcting invoice corrects (in id order, before the prepaid grants, as a void
    locks its invoice before the grants it restores) and check they are still issued: one voided since
    the correction was computed makes the close fail for the tenant (it is computed again)."""
    if not invoice_ids:
        return
    for original in Invoice.objects.select_for_update().filter(pk__in=invoice_ids).order_by("pk"):
        if original.status not in (Invoice.Status.FINALIZED, Invoice.Status.PAID):
            raise StateError(
                f"invoice {original.number} was {original.status} while its correction was computed: close again"
            )


def correction_credit_notes_issue(
    *, invoice: Invoice, credits: Sequence[CorrectionCredit], now: datetime
) -> list[CorrectionMarker]:
    """One credit note per corrected original, issued with `invoice` (the correcting invoice, being
    finalized by the caller). Returns the correction markers to store (original -> correcting)."""
    markers: list[CorrectionMarker] = []
    for credit in credits:
        original = Invoice.objects.select_for_update().select_related("tenant").get(pk=credit.invoice_id)
        if original.tenant_id != invoice.tenant_id:
            raise StateError(f"invoice {original.pk} is not the tenant's")
        if original.status not in (Invoice.Status.FINALIZED, Invoice.Status.PAID):
            raise StateError(f"invoice {original.number} is {original.status}: it cannot be credited")
        credit_note_issue(
            invoice=original,
            kind=CreditNote.Kind.CORRECTION,
            reason=(
                f"correction of {credit.period_key}: re-priced lower with usage that arrived late "
                f"(issued with invoice {invoice.number})"
            ),
            lines=[_credit_line(line) for line in credit.lines],
            vat=[_credit_row(row) for row in credit.vat],
            subtotal=credit.subtotal,
            tax=credit.tax,
            now=now,
        )
        markers.append(
            CorrectionMarker(
                original=original, correcting=invoice, period_key=credit.period_key, created_at=now
            )
        )
    return markers
