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
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db.models import Q

from common.periods import Period, period_by_key, period_containing, period_key_cycle
from ledger.exports.focus_columns import FOCUS_VERSION, SOURCES
from ledger.exports.focus_format import format_datetime, format_money, format_quantity, format_rate
from ledger.models import (
    CreditConsumption,
    CreditNote,
    CreditNoteLine,
    CreditRestoration,
    Invoice,
    InvoiceLine,
    TaxBreakdown,
)
from ledger.services.revenue import allocate
from tenants.models import Tenant

FocusRecord = dict[str, Any]

ISSUED = (Invoice.Status.FINALIZED, Invoice.Status.PAID, Invoice.Status.VOID)
NO_SKU_SERVICE = "Billing"
TAG_PREFIX = "billing/"
# A flat fee is Usage (days of the service, prorated), recurring: FOCUS 1.2 wants a Purchase's EffectiveCost
# at 0 when it pays for future charges, and the validator checks that for every Purchase row.
_KIND_CATEGORY = {"usage": "Usage", "flat": "Usage", "discount": "Credit", "minimum": "Adjustment"}
_USAGE_BASED = "Usage-Based"
_TIME_UNIT = re.compile(r"^(.+?)[- ](second|minute|hour|day|month|year)s?$", re.IGNORECASE)
_CHUNK = 20_000  # rows per fetch of the server-side cursor


def charge_category(kind: str, component: str) -> str:
    """FOCUS ChargeCategory of an invoice or credit-note line: by its kind, and for a correction (or a
    credit-note line) by the component it corrects (usage:..., flat:..., discount:..., minimum)."""
    category = _KIND_CATEGORY.get(kind)
    if category is not None:
        return category
    return _KIND_CATEGORY.get(component.split(":", 1)[0], "Adjustment")


def charge_frequency(kind: str, component: str) -> str:
    """Usage-Based for metered usage (and its corrections), Recurring for every other invoice line."""
    base = kind if kind in _KIND_CATEGORY else component.split(":", 1)[0]
    return "Usage-Based" if base == "usage" else "Recurring"


@lru_cache(maxsize=1024)
def focus_unit(label: str) -> str:
    """A unit label in FOCUS UnitFormat where it names a rate per time: vCPU-hour -> vCPU-Hours, GB-month ->
    GB-Months; other labels (request, GB, user) unchanged."""
    match = _TIME_UNIT.match(label)
    if match is None:
        return label
    return f"{match.group(1)}-{match.group(2).capitalize()}s"


@dataclass(frozen=True)
class _Doc:
    """What every row of one document shares."""

    slug: str
    name: str
    currency: str
    billing: Period
    number: str
    status: str
    fx_rate: Decimal | None
    document_type: str


class _Builder:
    def __init__(self, *, period: str, tenant: Tenant | None) -> None:
        self.period = period
        self.cycle = period_key_cycle(period)
        self.tenant = tenant
        self.base: FocusRecord = dict.fromkeys(SOURCES)
        self.base.update(
            issuer=settings.INVOICE_ISSUER["name"],
            focus_version=FOCUS_VERSION,
            ledger_currency=settings.LEDGER_BASE_CURRENCY,
            service_category="Other",
            service_subcategory="Other (Other)",
            service_name=NO_SKU_SERVICE,
        )
        self._tags: dict[tuple[str, str], str] = {}
        # Per document (and per document and SKU): the record's shared part, built once. Cleared with
        # `forget()` after each invoice, so memory stays flat over a long export.
        self._doc_bases: dict[tuple[str, str, str], FocusRecord] = {}
        self._sku_bases: dict[tuple[str, str, str, str, str], FocusRecord] = {}

    def forget(self) -> None:
        self._doc_bases.clear()
        self._sku_bases.clear()

    # -- shared pieces ------------------------------------------------------------------------------------
    def tags(self, slug: str, sku: str) -> str:
        key = (slug, sku)
        cached = self._tags.get(key)
        if cached is None:
            tags = {f"{TAG_PREFIX}tenant": slug, f"{TAG_PREFIX}period": self.period}
            if sku:
                tags[f"{TAG_PREFIX}sku"] = sku
            cached = self._tags[key] = json.dumps(tags, sort_keys=True, separators=(",", ":"))
        return cached

    def doc_base(self, doc: _Doc) -> FocusRecord:
        key = (doc.document_type, doc.number, doc.billing.key)
        base = self._doc_bases.get(key)
        if base is None:
            base = self._doc_bases[key] = self.base.copy()
            start, end = format_datetime(doc.billing.start), format_datetime(doc.billing.end)
            base.update(
                tenant_slug=doc.slug,
                tenant_name=doc.name,
                currency=doc.currency,
                billing_start=start,
                billing_end=end,
                charge_start=start,
                charge_end=end,
                invoice_id=doc.number,
                document_type=doc.document_type,
                document_status=doc.status,
                fx_rate=format_rate(doc.fx_rate) if doc.fx_rate is not None else None,
                tags=self.tags(doc.slug, ""),
            )
        return base

    def record(self, doc: _Doc, *, cost: Decimal, **fields: Any) -> FocusRecord:
        """A record of `doc` costing `cost` (BilledCost, and so Effective, List and Contracted cost)."""
        rec = self.doc_base(doc).copy()
        rec["cost"] = format_money(cost, doc.currency)
        rec.update(fields)
        return rec

    def sku_base(self, doc: _Doc, sku: str, service_category: str) -> FocusRecord:
        key = (doc.document_type, doc.number, doc.billing.key, sku, service_category)
        base = self._sku_bases.get(key)
        if base is None:
            base = self._sku_bases[key] = self.doc_base(doc).copy()
            if sku:
                category = service_category or "Other"
                base.update(
                    sku_id=sku,
                    service_name=sku,
                    service_category=category,
                    service_subcategory=f"Other ({category})",
                    tags=self.tags(doc.slug, sku),
                )
        return base

    def line_record(
        self,
        doc: _Doc,
        *,
        kind: str,
        component: str,
        cost: Decimal,
        quantity: Decimal | None,
        unit: str,
        description: str,
        sku: str,
        service_category: str,
        tax_category: str,
        tax_rate: Decimal | None,
        frequency: str | None = None,
    ) -> FocusRecord:
        """The record of an invoice or credit-note line (the hot path: one dict copy, a few stores)."""
        rec = self.sku_base(doc, sku, service_category).copy()
        category = _KIND_CATEGORY.get(kind) or charge_category(kind, component)
        rec["category"] = category
        rec["description"] = description
        rec["cost"] = format_money(cost, doc.currency)
        rec["frequency"] = frequency or (
            _USAGE_BASED if kind == "usage" else charge_frequency(kind, component)
        )
        rec["line_kind"] = kind
        rec["component"] = component or None
        rec["tax_category"] = tax_category
        rec["tax_rate"] = format_rate(tax_rate) if tax_rate is not None else None
        if quantity is not None:
            rec["quantity"] = text = format_quantity(quantity)
            rec["unit"] = focus_unit(unit or "Units")
            if category == "Usage":
                rec["consumed_quantity"] = text
                rec["consumed_unit"] = rec["unit"]
        return rec

    def tax_record(
        self, doc: _Doc, tax: tuple[str, Decimal, Decimal, str], *, sign: int, **fields: Any
    ) -> FocusRecord:
        category, rate, amount, reason = tax
        rate_text = format_rate(rate).removesuffix(".0")
        described = f"VAT {rate_text} % ({category})" + (f": {reason}" if reason else "")
        return self.record(
            doc,
            category="Tax",
            description=described,
            cost=sign * amount,
            frequency="One-Time" if doc.document_type == "credit_note" else "Recurring",
            line_kind="tax",
            tax_category=category,
            tax_rate=format_rate(rate),
            **fields,
        )

    # -- invoices -----------------------------------------------------------------------------------------
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
    def in_period(self, at: datetime, tz: str) -> Period | None:
        local = period_containing(at, tz=tz, cycle=self.cycle)
        return local if local.key == self.period else None

    def window(self) -> tuple[datetime, datetime]:
        """A UTC window wide enough for the period in every time zone (each row is then checked exactly)."""
        utc = period_by_key(self.period, tz="UTC", cycle=self.cycle)
        return utc.start - timedelta(days=1), utc.end + timedelta(days=1)

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


def _sku_of(component: str) -> str:
    parts = component.split(":")
    return parts[1] if len(parts) >= 2 and parts[0] == "usage" else ""


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
