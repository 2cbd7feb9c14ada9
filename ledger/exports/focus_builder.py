"""The FOCUS row builder's shared part: what every row of a document carries, the record of one
invoice line or VAT row, the period's window (ledger.exports.focus_rows builds the rows)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from django.conf import settings

from common.periods import Period, period_by_key, period_containing, period_key_cycle
from ledger.exports.focus_columns import FOCUS_VERSION, SOURCES
from ledger.exports.focus_format import format_datetime, format_money, format_quantity, format_rate
from ledger.models import Invoice
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


def _sku_of(component: str) -> str:
    parts = component.split(":")
    return parts[1] if len(parts) >= 2 and parts[0] == "usage" else ""


class _BuilderBase:
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

    def in_period(self, at: datetime, tz: str) -> Period | None:
        local = period_containing(at, tz=tz, cycle=self.cycle)
        return local if local.key == self.period else None

    def window(self) -> tuple[datetime, datetime]:
        """A UTC window wide enough for the period in every time zone (each row is then checked exactly)."""
        utc = period_by_key(self.period, tz="UTC", cycle=self.cycle)
        return utc.start - timedelta(days=1), utc.end + timedelta(days=1)
