"""FOCUS rows of the credit notes issued in a period and of the prepaid credit restored by voids
(ledger.exports.focus_rows builds the rows; the shared part is in focus_builder)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

from ledger.exports.focus_builder import FocusRecord, _BuilderBase, _Doc, _sku_of
from ledger.exports.focus_format import format_datetime
from ledger.models import (
    CreditNote,
    CreditNoteLine,
    CreditRestoration,
    InvoiceLine,
    TaxBreakdown,
)
from ledger.services.revenue import allocate


class _CreditRows(_BuilderBase):
    def credit_note_rows(self) -> Iterator[FocusRecord]:
        start, end = self.window()
        query = CreditNote.objects.filter(created_at__gte=start, created_at__lt=end)
        if self.tenant is not None:
            query = query.filter(tenant=self.tenant)
        notes: dict[int, tuple[_Doc, str, str, datetime, datetime, Decimal, Decimal, Decimal]] = {}
        for row in query.order_by("id").values_list(
            "pk",
            "kind",
            "number",
            "currency",
            "created_at",
            "tenant__slug",
            "tenant__name",
            "tenant__timezone",
            "invoice__number",
            "invoice__period_key",
            "invoice__period_start",
            "invoice__period_end",
            "invoice__fx_rate",
            "subtotal",
            "tax_total",
            "total",
        ):
            pk, kind, number, currency, created, slug, name, tz, inv_number, inv_key, inv_start, inv_end = (
                row[:12]
            )
            fx, subtotal, tax_total, total = row[12:]
            billing = self.in_period(created, tz)
            if billing is None:
                continue
            doc = _Doc(slug, name, currency, billing, number, kind, fx, "credit_note")
            notes[pk] = (doc, inv_number or "", inv_key, inv_start, inv_end, subtotal, tax_total, total)
        if not notes:
            return
        lines: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
        for line_row in (
            CreditNoteLine.objects.filter(credit_note_id__in=notes)
            .order_by("credit_note_id", "id")
            .values_list(
                "credit_note_id",
                "amount",
                "description",
                "component",
                "quantity",
                "unit_label",
                "tax_category",
                "tax_rate",
                "invoice_line__kind",
                "invoice_line__component",
                "invoice_line__sku_code",
                "invoice_line__service_category",
            )
        ):
            lines[line_row[0]].append(line_row[1:])
        categories = self.sku_categories(notes.values(), lines.values())
        taxes: dict[int, list[tuple[str, Decimal, Decimal, str]]] = defaultdict(list)
        for note_id, category, rate, amount, reason in (
            TaxBreakdown.objects.filter(credit_note_id__in=notes)
            .order_by("credit_note_id", "id")
            .values_list("credit_note_id", "category", "rate", "tax_amount", "exemption_reason")
        ):
            taxes[note_id].append((category, rate, amount, reason))
        for note_id, (
            doc,
            inv_number,
            inv_key,
            inv_start,
            inv_end,
            subtotal,
            tax_total,
            total,
        ) in notes.items():
            correction = inv_key != self.period
            corrects = {
                "charge_class": "Correction" if correction else None,
                "corrects_invoice": inv_number,
                "corrects_period": inv_key,
            }
            note_lines = lines[note_id]
            shares = [Decimal(0)] * len(note_lines)
            if subtotal + tax_total != total:  # tax-inclusive: the lines hold the tax, carve it out
                shares = allocate(tax_total, [line[0] for line in note_lines], doc.currency)
            for line, share in zip(note_lines, shares, strict=True):
                amount, description, component, quantity, unit, tax_category, tax_rate = line[:7]
                line_kind, line_component, sku, service_category = line[7:]
                component = component or line_component or ""
                sku = sku or _sku_of(component)
                kind = "manual" if doc.status == CreditNote.Kind.MANUAL else (line_kind or "correction")
                rec = self.line_record(
                    doc,
                    kind=kind,
                    component=component,
                    cost=-(amount - share),
                    quantity=quantity,
                    unit=unit,
                    description=description,
                    sku=sku,
                    service_category=service_category or categories.get(sku, ""),
                    frequency="One-Time",
                    tax_category=tax_category,
                    tax_rate=tax_rate,
                )
                rec.update(corrects)
                rec["line_kind"] = "credit_note"
                if doc.status == CreditNote.Kind.MANUAL:
                    rec["category"] = "Credit"
                    rec["consumed_quantity"] = rec["consumed_unit"] = None
                if correction:
                    rec.update(charge_start=format_datetime(inv_start), charge_end=format_datetime(inv_end))
                yield rec
            for tax in taxes[note_id]:
                yield self.tax_record(doc, tax, sign=-1, **corrects)

    @staticmethod
    def sku_categories(
        notes: Iterable[tuple[Any, ...]], lines: Iterable[list[tuple[Any, ...]]]
    ) -> dict[str, str]:
        """SKU -> service category, as the credited invoices' lines state it (a correction credit note's
        lines name a component, not an invoice line): one ServiceName keeps one ServiceCategory."""
        skus = {_sku_of(line[2]) for note_lines in lines for line in note_lines} - {""}
        if not skus:
            return {}
        numbers = {note[1] for note in notes}
        return dict(
            InvoiceLine.objects.filter(invoice__number__in=numbers, sku_code__in=skus)
            .exclude(service_category="")
            .values_list("sku_code", "service_category")
            .distinct()
        )

    def restoration_rows(self) -> Iterator[FocusRecord]:
        start, end = self.window()
        query = CreditRestoration.objects.filter(created_at__gte=start, created_at__lt=end)
        if self.tenant is not None:
            query = query.filter(consumption__invoice__tenant=self.tenant)
        for row in query.order_by("id").values_list(
            "amount",
            "created_at",
            "consumption__grant__reason",
            "consumption__invoice__number",
            "consumption__invoice__currency",
            "consumption__invoice__period_key",
            "consumption__invoice__fx_rate",
            "consumption__invoice__tenant__slug",
            "consumption__invoice__tenant__name",
            "consumption__invoice__tenant__timezone",
        ):
            amount, created, reason, number, currency, inv_key, fx, slug, name, tz = row
            billing = self.in_period(created, tz)
            if billing is None:
                continue
            doc = _Doc(slug, name, currency, billing, number or "", "void", fx, "invoice")
            yield self.record(
                doc,
                category="Credit",
                charge_class="Correction" if inv_key != self.period else None,
                description=f"Prepaid credit restored (invoice {number} voided): {reason}",
                cost=amount,
                frequency="One-Time",
                line_kind="prepaid_credit_restored",
                corrects_invoice=number,
                corrects_period=inv_key,
            )
