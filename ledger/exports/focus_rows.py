"""FOCUS rows of a billing period, built from the issued invoices and the ledger's documents (a selector).

One record (a dict keyed by `focus_columns.COLUMNS`' sources) per charge:
- each line of an issued invoice (finalized, paid or void) of the period: usage and flat fees -> Usage,
  discount -> Credit, minimum-spend true-up -> Adjustment; a correction line takes the category
  of the component it corrects and ChargeClass=Correction;
- each VAT breakdown row of the invoice -> Tax (with inclusive prices the tax is carved out of the lines
  with the ledger's own rule, `revenue.allocate`, so the rows still sum to the total);
- each prepaid credit consumed by the invoice -> Credit (negative);
- each credit note issued in the period (tenant's time zone): its lines negative, in the category of the
  component or invoice line they credit (a credit note finance issues by hand: Credit), its VAT -> Tax;
  ChargeClass=Correction when it credits an earlier period;
- each prepaid credit restored in the period (a voided invoice gives it back) -> Credit (positive).

So BilledCost summed per InvoiceId is the document's payable amount: an invoice's total less the prepaid
credit applied (its amount due), a credit note's total negated, exactly what the ledger's receivable
postings of that reference say. Reads are bulk: one server-side cursor over the lines, the rest (VAT,
credits, credit notes) one query each; never a query per row."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal

from django.db.models import Q

from common.periods import Period, period_key_cycle
from ledger.exports.focus_builder import (
    _CHUNK,
    ISSUED,
    FocusRecord,
    _Doc,
    charge_category,
    charge_frequency,
    focus_unit,
)
from ledger.exports.focus_credit_rows import _CreditRows
from ledger.exports.focus_format import format_datetime
from ledger.models import (
    CreditConsumption,
    Invoice,
    InvoiceLine,
    TaxBreakdown,
)
from ledger.services.revenue import allocate
from tenants.models import Tenant

__all__ = [
    "FocusRecord",
    "charge_category",
    "charge_frequency",
    "focus_periods",
    "focus_row_count",
    "focus_rows",
    "focus_unit",
]


class _Builder(_CreditRows):
    def invoices(self) -> dict[int, _Doc]:
        query = Invoice.objects.filter(period_key=self.period, status__in=ISSUED)
        if self.tenant is not None:
            query = query.filter(tenant=self.tenant)
        docs: dict[int, _Doc] = {}
        self.inclusive: set[int] = set()
        for pk, slug, name, currency, start, end, key, number, status, fx, mode in query.values_list(
            "pk",
            "tenant__slug",
            "tenant__name",
            "currency",
            "period_start",
            "period_end",
            "period_key",
            "number",
            "status",
            "fx_rate",
            "tax_mode",
        ):
            docs[pk] = _Doc(
                slug=slug,
                name=name,
                currency=currency,
                billing=Period(key=key, start=start, end=end),
                number=number or "",
                status=status,
                fx_rate=fx,
                document_type="invoice",
            )
            if mode == Invoice.TaxMode.INCLUSIVE:
                self.inclusive.add(pk)
        return docs

    def inclusive_shares(self, docs: dict[int, _Doc]) -> dict[int, Decimal]:
        """Line id -> the VAT carved out of it, for invoices with tax-inclusive prices: per VAT rate, the
        breakdown's tax split across that rate's lines by `revenue.allocate` (each share rounded once)."""
        if not self.inclusive:
            return {}
        groups: dict[tuple[int, str, Decimal], list[tuple[int, Decimal]]] = defaultdict(list)
        for pk, invoice_id, category, rate, amount in InvoiceLine.objects.filter(
            invoice_id__in=self.inclusive
        ).values_list("pk", "invoice_id", "tax_category", "tax_rate", "amount"):
            groups[(invoice_id, category, rate or Decimal(0))].append((pk, amount))
        shares: dict[int, Decimal] = {}
        for invoice_id, category, rate, amount in TaxBreakdown.objects.filter(
            invoice_id__in=self.inclusive
        ).values_list("invoice_id", "category", "rate", "tax_amount"):
            lines = groups.get((invoice_id, category, rate), [])
            split = allocate(amount, [a for _, a in lines], docs[invoice_id].currency)
            shares.update((pk, share) for (pk, _), share in zip(lines, split, strict=True))
        return shares

    def invoice_rows(self) -> Iterator[FocusRecord]:
        docs = self.invoices()
        if not docs:
            return
        shares = self.inclusive_shares(docs)
        taxes: dict[int, list[tuple[str, Decimal, Decimal, str]]] = defaultdict(list)
        for invoice_id, category, rate, amount, reason in (
            TaxBreakdown.objects.filter(invoice_id__in=docs)
            .order_by("invoice_id", "id")
            .values_list("invoice_id", "category", "rate", "tax_amount", "exemption_reason")
        ):
            taxes[invoice_id].append((category, rate, amount, reason))
        credits: dict[int, list[tuple[Decimal, str]]] = defaultdict(list)
        for invoice_id, amount, reason in (
            CreditConsumption.objects.filter(invoice_id__in=docs)
            .order_by("invoice_id", "id")
            .values_list("invoice_id", "amount", "grant__reason")
        ):
            credits[invoice_id].append((amount, reason))

        lines = (
            InvoiceLine.objects.filter(invoice_id__in=docs)
            .order_by("invoice_id", "position")
            .values_list(
                "pk",
                "invoice_id",
                "kind",
                "component",
                "amount",
                "quantity",
                "unit_label",
                "description",
                "sku_code",
                "service_category",
                "corrects_invoice__number",
                "corrects_invoice__period_key",
                "corrects_invoice__period_start",
                "corrects_invoice__period_end",
                "tax_category",
                "tax_rate",
            )
            .iterator(chunk_size=_CHUNK)
        )
        seen: set[int] = set()
        current: int | None = None
        for row in lines:
            (pk, invoice_id, kind, component, amount, quantity, unit, description, sku, service_category) = (
                row[:10]
            )
            corr_number, corr_key, corr_start, corr_end, tax_category, tax_rate = row[10:]
            if invoice_id != current:
                if current is not None:
                    yield from self.invoice_tail(docs[current], taxes[current], credits[current])
                    self.forget()
                current = invoice_id
                seen.add(invoice_id)
            doc = docs[invoice_id]
            rec = self.line_record(
                doc,
                kind=kind,
                component=component,
                cost=amount - shares.get(pk, 0),
                quantity=quantity,
                unit=unit,
                description=description,
                sku=sku,
                service_category=service_category,
                tax_category=tax_category,
                tax_rate=tax_rate,
            )
            if kind == InvoiceLine.Kind.CORRECTION:
                rec.update(
                    charge_class="Correction",
                    charge_start=format_datetime(corr_start),
                    charge_end=format_datetime(corr_end),
                    corrects_invoice=corr_number,
                    corrects_period=corr_key,
                )
            yield rec
        if current is not None:
            yield from self.invoice_tail(docs[current], taxes[current], credits[current])
        for invoice_id in sorted(set(docs) - seen):  # no lines (a zero invoice): its VAT and credits still
            yield from self.invoice_tail(docs[invoice_id], taxes[invoice_id], credits[invoice_id])

    def invoice_tail(
        self, doc: _Doc, taxes: list[tuple[str, Decimal, Decimal, str]], credits: list[tuple[Decimal, str]]
    ) -> Iterator[FocusRecord]:
        for tax in taxes:
            yield self.tax_record(doc, tax, sign=1)
        for amount, reason in credits:
            yield self.record(
                doc,
                category="Credit",
                description=f"Prepaid credit applied: {reason}",
                cost=-amount,
                frequency="One-Time",
                line_kind="prepaid_credit",
            )

    # -- documents dated in the period (credit notes, restorations) ---------------------------------------


def focus_rows(*, period: str, tenant: Tenant | None) -> Iterator[FocusRecord]:
    """The FOCUS records of `period` (a key: 2026-11, 2026-Q4, 2026) for one tenant, or every tenant when
    `tenant` is None (finance). Raises ValidationFailed for a bad period key before reading anything."""
    builder = _Builder(period=period, tenant=tenant)  # checks the period now, not at the first row
    return itertools.chain(builder.invoice_rows(), builder.credit_note_rows(), builder.restoration_rows())


def focus_row_count(*, period: str, tenant: Tenant | None) -> int:
    """How many records `focus_rows` yields for the period's invoices (lines, VAT rows, prepaid credits;
    a progress bar's total: credit notes and restorations, a handful, are not counted)."""
    period_key_cycle(period)
    scope = Q(invoice__period_key=period, invoice__status__in=ISSUED)
    if tenant is not None:
        scope &= Q(invoice__tenant=tenant)
    return (
        InvoiceLine.objects.filter(scope).count()
        + TaxBreakdown.objects.filter(scope).count()
        + CreditConsumption.objects.filter(scope).count()
    )


def focus_periods(*, tenant: Tenant | None, limit: int = 24) -> list[str]:
    """The period keys with issued invoices (one tenant's, or any tenant's for None), newest first: what a
    download page offers first."""
    query = Invoice.objects.filter(status__in=ISSUED)
    if tenant is not None:
        query = query.filter(tenant=tenant)
    keys = query.order_by("-period_key").values_list("period_key", flat=True).distinct()
    return list(keys[:limit])
