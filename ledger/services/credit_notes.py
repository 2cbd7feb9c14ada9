"""Credit notes against a finalized (or paid) invoice: full or per line, never more than what was
invoiced less earlier credit notes (the invoice row is locked; a trigger checks it again). Tax as on
invoices (ledger/vat.py, EN 16931 BR-CO-17): per category and rate, over the credited amounts."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from common.errors import StateError, ValidationFailed
from common.money import quantize_money
from ledger.audit.services import Actor, audit_record, audit_snapshot
from ledger.models import CreditNote, CreditNoteLine, Invoice, InvoiceLine, TaxBreakdown, Transaction
from ledger.models.journal import stored_amount
from ledger.services import posting
from ledger.services.documents import credit_note_pdf_enqueue
from ledger.services.invoice_rows import vat_row
from ledger.services.numbering import invoice_number_next, series_for, year_in
from ledger.services.revenue import allocate, posting_kind, revenue_legs
from ledger.vat import VatRow, category_for, vat_breakdown


@dataclass(frozen=True, slots=True)
class CreditLine:
    """One line of a credit note: `amount` credited before tax (positive credits), `tax_amount` its share
    of the note's tax (display), and the corrected component for correction credit notes."""

    description: str
    amount: Decimal
    kind: str  # the invoice line kind it reverses (revenue category or discounts)
    service_category: str
    tax_category: str
    tax_rate: Decimal
    invoice_line: InvoiceLine | None = None
    tax_amount: Decimal = Decimal(0)
    component: str = ""
    quantity: Decimal | None = None
    unit_label: str = ""
    billed_before: Decimal | None = None
    repriced: Decimal | None = None


def credited_by_line(invoice: Invoice) -> dict[int, Decimal]:
    """Per invoice line id, what the invoice's credit notes already credited on it (before tax)."""
    rows = (
        CreditNoteLine.objects.filter(credit_note__invoice=invoice, invoice_line__isnull=False)
        .values("invoice_line_id")
        .annotate(total=Sum("amount"))
    )
    return {r["invoice_line_id"]: stored_amount(r["total"]) for r in rows}


def line_tax(line: InvoiceLine, invoice: Invoice) -> tuple[str, Decimal]:
    """The VAT category and rate a line was invoiced at (older lines: the invoice's)."""
    if line.tax_rate is not None:
        return line.tax_category, line.tax_rate
    rate = invoice.tax_rate or Decimal(0)
    return category_for(rate=rate, reverse_charge=invoice.reverse_charge), rate


def _invoice_vat(invoice: Invoice) -> dict[tuple[str, Decimal], VatRow]:
    rows = list(TaxBreakdown.objects.filter(invoice=invoice))
    if not rows:  # an invoice issued before breakdowns were stored: one rate
        rate = invoice.tax_rate or Decimal(0)
        category = category_for(rate=rate, reverse_charge=invoice.reverse_charge)
        inclusive = invoice.tax_mode == Invoice.TaxMode.INCLUSIVE
        taxable = invoice.subtotal - invoice.tax_total if inclusive else invoice.subtotal
        return {
            (category, rate): VatRow(category, rate, taxable, invoice.tax_total, invoice.subtotal, Decimal(0))
        }
    return {
        (r.category, r.rate): VatRow(
            r.category,
            r.rate,
            r.taxable_amount,
            r.tax_amount,
            r.taxable_amount,
            Decimal(0),
            r.exemption_reason,
            r.exemption_code,
        )
        for r in rows
    }


def _remaining_vat(invoice: Invoice) -> list[VatRow]:
    """The invoice's breakdown less what its credit notes already credited, per category and rate."""
    left = _invoice_vat(invoice)
    for r in TaxBreakdown.objects.filter(credit_note__invoice=invoice):
        key = (r.category, r.rate)
        row = left.get(key)
        if row is None:
            continue
        left[key] = VatRow(
            row.category,
            row.rate,
            row.taxable - r.taxable_amount,
            row.tax - r.tax_amount,
            row.gross,
            row.rounding,
            row.exemption_reason,
            row.exemption_code,
        )
    return [row for row in left.values() if row.taxable or row.tax]


def credit_note_create(
    *,
    invoice: Invoice,
    reason: str,
    lines: Sequence[tuple[int, Decimal]] | None,
    now: datetime | None = None,
    allow_empty: bool = False,
    actor: Actor = None,
) -> CreditNote | None:
    """`lines=None`: a full credit note for everything not yet credited. Otherwise (invoice line id,
    amount before tax) pairs; tax is added (exclusive) or carved out (inclusive) at the invoice's rate."""
    if not reason.strip():
        raise ValidationFailed("a credit note needs a reason")
    now = now or timezone.now()
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().select_related("tenant").get(pk=invoice.pk)
        if invoice.status not in (Invoice.Status.FINALIZED, Invoice.Status.PAID):
            raise StateError(f"credit notes only against finalized or paid invoices (it is {invoice.status})")
        earlier = invoice.credit_notes.aggregate(s=Sum("subtotal"), t=Sum("tax_total"), g=Sum("total"))
        earlier_sub, earlier_tax = stored_amount(earlier["s"]), stored_amount(earlier["t"])
        earlier_total = stored_amount(earlier["g"])
        credited = credited_by_line(invoice)
        inv_lines = {line.pk: line for line in invoice.lines.all()}
        inclusive = invoice.tax_mode == Invoice.TaxMode.INCLUSIVE
        picked: list[CreditLine] = []
        vat: list[VatRow]
        if lines is None:
            for line in inv_lines.values():
                left = line.amount - credited.get(line.pk, Decimal(0))
                if left != 0:
                    picked.append(_credit_line(line, invoice, left))
            subtotal = invoice.subtotal - earlier_sub
            tax = invoice.tax_total - earlier_tax
            vat = _remaining_vat(invoice)
        else:
            for line_id, amount in lines:
                found = inv_lines.get(line_id)
                if found is None:
                    raise ValidationFailed(f"line {line_id} is not on invoice {invoice.number}")
                line = found
                if amount <= 0 or quantize_money(amount, invoice.currency) != amount:
                    raise ValidationFailed("a credited amount is positive, in the currency's minor unit")
                if line.amount <= 0 or amount > line.amount - credited.get(line.pk, Decimal(0)):
                    raise ValidationFailed(
                        f"line {line_id}: more than was invoiced less earlier credit notes"
                    )
                credited[line.pk] = credited.get(line.pk, Decimal(0)) + amount
                picked.append(_credit_line(line, invoice, amount))
            vat = vat_breakdown(
                ((p.tax_category, p.tax_rate, p.amount) for p in picked),
                inclusive=inclusive,
                currency=invoice.currency,
            )
            subtotal = sum((p.amount for p in picked), Decimal(0))
            tax = sum((row.tax for row in vat), Decimal(0))
        total = subtotal if inclusive else subtotal + tax
        if total <= 0:
            if allow_empty:
                return None
            raise ValidationFailed("nothing left to credit on this invoice")
        note = credit_note_issue(
            invoice=invoice,
            kind=CreditNote.Kind.VOID if reason.startswith("void: ") else CreditNote.Kind.MANUAL,
            reason=reason,
            lines=picked,
            vat=vat,
            subtotal=subtotal,
            tax=tax,
            earlier_total=earlier_total,
            now=now,
            actor=actor,
        )
    return note


def _credit_line(line: InvoiceLine, invoice: Invoice, amount: Decimal) -> CreditLine:
    category, rate = line_tax(line, invoice)
    return CreditLine(
        description=line.description,
        amount=amount,
        kind=posting_kind(line.kind, line.component),
        service_category=line.service_category,
        tax_category=category,
        tax_rate=rate,
        invoice_line=line,
        component="",  # a manual credit is not a re-pricing: corrections never count it
        quantity=line.quantity,
        unit_label=line.unit_label,
    )


def credit_note_issue(
    *,
    invoice: Invoice,
    kind: str,
    reason: str,
    lines: Sequence[CreditLine],
    vat: Sequence[VatRow],
    subtotal: Decimal,
    tax: Decimal,
    earlier_total: Decimal | None = None,
    now: datetime,
    actor: Actor = None,
) -> CreditNote:
    """Number, post and store one credit note against `invoice` (locked by the caller, finalized or paid):
    Cr the tenant's receivable for the total, Dr revenue / discounts / tax as the lines say. Its VAT rows
    are `vat` (positive credits); each line's tax share is spread from its row. Audited
    (`credit_note.issue`, with its lines) as `actor`'s (None: the system, e.g. a close's correction)."""
    inclusive = invoice.tax_mode == Invoice.TaxMode.INCLUSIVE
    total = subtotal if inclusive else subtotal + tax
    if earlier_total is None:
        earlier_total = stored_amount(invoice.credit_notes.aggregate(g=Sum("total"))["g"])
    if earlier_total + total > invoice.total:
        raise ValidationFailed(
            f"credit notes would exceed invoice {invoice.number}: {earlier_total} + {total} > {invoice.total}"
        )
    shares: dict[int, Decimal] = {}
    by_rate: dict[tuple[str, Decimal], list[int]] = defaultdict(list)
    for i, line in enumerate(lines):
        by_rate[(line.tax_category, line.tax_rate)].append(i)
    for row in vat:
        members = by_rate.get((row.category, row.rate), [])
        for i, share in zip(
            members, allocate(row.tax, [lines[i].amount for i in members], invoice.currency), strict=False
        ):
            shares[i] = share
    # Numbered in the tenant's own year, as invoices are (New Year's Eve in UTC is New Year in Tokyo).
    number = invoice_number_next(
        series=f"{series_for(invoice.tenant)}-CN", year=year_in(invoice.tenant.timezone, now)
    )
    legs = [posting.Leg(posting.receivable(invoice.tenant_id, invoice.tenant.slug), -total)]
    legs += [
        posting.Leg(leg.account, -leg.amount)
        for leg in revenue_legs(
            lines=[(line.kind, line.service_category, line.amount) for line in lines],
            tax=tax,
            jurisdiction=invoice.tax_jurisdiction,
            inclusive=inclusive,
            currency=invoice.currency,
        )
    ]
    tx = posting.transaction_post(
        kind=Transaction.Kind.CREDIT_NOTE,
        legs=legs,
        currency=invoice.currency,
        fx_rate=invoice.fx_rate or Decimal(1),
        tenant_id=invoice.tenant_id,
        reference=number,
        memo=f"credit note for {invoice.number}",
        booked_at=now,
    )
    assert tx is not None
    note = CreditNote.objects.create(
        invoice=invoice,
        tenant_id=invoice.tenant_id,
        kind=kind,
        number=number,
        reason=reason,
        currency=invoice.currency,
        subtotal=subtotal,
        tax_total=tax,
        total=total,
        created_at=now,
        ledger_transaction=tx,
    )
    CreditNoteLine.objects.bulk_create(
        [
            CreditNoteLine(
                credit_note=note,
                invoice_line=line.invoice_line,
                description=line.description[:255],
                amount=line.amount,
                tax_amount=shares.get(i, Decimal(0)),
                component=line.component,
                quantity=line.quantity,
                unit_label=line.unit_label,
                tax_category=line.tax_category,
                tax_rate=line.tax_rate,
                billed_before=line.billed_before,
                repriced=line.repriced,
            )
            for i, line in enumerate(lines)
        ]
    )
    TaxBreakdown.objects.bulk_create([vat_row(row, credit_note=note) for row in vat])
    after = audit_snapshot(note, exclude=["pdf_file", "pdf_sha256", "pdf_version", "pdf_rendered_version"])
    after["lines"] = [
        [line.invoice_line.pk if line.invoice_line else None, line.description, line.amount, shares.get(i)]
        for i, line in enumerate(lines)
    ]
    audit_record(actor=actor, action="credit_note.issue", obj=note, before=None, after=after, reason=reason)
    credit_note_pdf_enqueue([note.pk])
    return note
