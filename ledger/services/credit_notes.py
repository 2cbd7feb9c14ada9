"""Credit notes against a finalized (or paid) invoice: full or per line, never more than what was
invoiced less earlier credit notes (the invoice row is locked; a trigger checks it again)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from common.errors import StateError, ValidationFailed
from common.money import quantize_money
from ledger.models import CreditNote, CreditNoteLine, Invoice, InvoiceLine, Transaction
from ledger.models.journal import stored_amount
from ledger.services import posting
from ledger.services.numbering import invoice_number_next, series_for, year_in
from ledger.services.revenue import allocate, revenue_legs


def _credited_by_line(invoice: Invoice) -> dict[int, Decimal]:
    rows = (
        CreditNoteLine.objects.filter(credit_note__invoice=invoice, invoice_line__isnull=False)
        .values("invoice_line_id")
        .annotate(total=Sum("amount"))
    )
    return {r["invoice_line_id"]: stored_amount(r["total"]) for r in rows}


def credit_note_create(
    *,
    invoice: Invoice,
    reason: str,
    lines: Sequence[tuple[int, Decimal]] | None,
    now: datetime | None = None,
    allow_empty: bool = False,
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
        credited = _credited_by_line(invoice)
        inv_lines = {line.pk: line for line in invoice.lines.all()}
        inclusive = invoice.tax_mode == Invoice.TaxMode.INCLUSIVE
        rate = invoice.tax_rate or Decimal(0)
        picked: list[tuple[InvoiceLine, Decimal, Decimal]] = []  # line, amount, tax
        if lines is None:
            for line in inv_lines.values():
                left = line.amount - credited.get(line.pk, Decimal(0))
                if left != 0:
                    picked.append((line, left, Decimal(0)))
            subtotal = invoice.subtotal - earlier_sub
            tax = invoice.tax_total - earlier_tax
            # Spread the remaining tax over the lines (display only; the totals are exact remainders).
            if picked and tax:
                shares = allocate(tax, [p[1] for p in picked], invoice.currency)
                picked = [(p[0], p[1], s) for p, s in zip(picked, shares, strict=True)]
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
                factor = rate / (100 + rate) if inclusive else rate / 100
                picked.append((line, amount, quantize_money(amount * factor, invoice.currency)))
            subtotal = sum((p[1] for p in picked), Decimal(0))
            tax = sum((p[2] for p in picked), Decimal(0))
        total = subtotal if inclusive else subtotal + tax
        if total <= 0:
            if allow_empty:
                return None
            raise ValidationFailed("nothing left to credit on this invoice")
        if earlier_total + total > invoice.total:
            raise ValidationFailed(
                f"credit notes would exceed invoice {invoice.number}: "
                f"{earlier_total} + {total} > {invoice.total}"
            )
        # Numbered in the tenant's own year, as invoices are (New Year's Eve in UTC is New Year in Tokyo).
        number = invoice_number_next(
            series=f"{series_for(invoice.tenant)}-CN", year=year_in(invoice.tenant.timezone, now)
        )
        legs = [posting.Leg(posting.receivable(invoice.tenant_id, invoice.tenant.slug), -total)]
        legs += [
            posting.Leg(leg.account, -leg.amount)
            for leg in revenue_legs(
                lines=[(p[0].kind, p[0].service_category, p[1]) for p in picked],
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
                    invoice_line=line,
                    description=line.description,
                    amount=amount,
                    tax_amount=t,
                )
                for line, amount, t in picked
            ]
        )
    return note
