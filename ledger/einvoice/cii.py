"""The Factur-X / ZUGFeRD CII XML (profile EN 16931, guideline `urn:cen.eu:en16931:2017`) of a stored
invoice (TypeCode 380) or credit note (TypeCode 381, referencing the credited invoice, BT-25).

Two steps: `invoice_cii` / `credit_note_cii` read the stored document into a `CiiDocument` (plain values,
every amount already as it is printed), `cii_xml` serializes one. Nothing is re-priced: the VAT breakdown
(BG-23) is the stored TaxBreakdown rows, the totals are the stored totals.

Two choices EN 16931 forces on us (docs/einvoicing.md):
- A line's net price is never negative (BR-27): a negative line (discount, correction) has a negative
  billed quantity and a positive price. A line whose amount is not exactly quantity x unit price (usage
  priced by tiers, a rounded line) states price = |amount| per basis quantity = |quantity|, so that
  net amount = billed quantity x price / basis quantity holds exactly.
- Inclusive prices: the XML's line amounts are net. Each (category, rate)'s stored taxable amount is
  allocated over its lines in proportion to their gross amounts, to the minor unit, by largest
  remainder, so the lines add up to the breakdown exactly; the difference between the gross total and
  net + tax is the rounding amount (BT-114)."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal, localcontext
from typing import Any
from xml.etree import ElementTree as ET
from zoneinfo import ZoneInfo

from django.conf import settings

from common.money import WIDE_CONTEXT, currency_exponent, quantize_money
from ledger.models import CreditNote, CreditNoteLine, Invoice, InvoiceLine, TaxBreakdown

GUIDELINE = "urn:cen.eu:en16931:2017"
TYPE_INVOICE = "380"
TYPE_CREDIT_NOTE = "381"
NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "qdt": "urn:un:unece:uncefact:data:standard:QualifiedDataType:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
}
for _prefix, _uri in NS.items():
    ET.register_namespace(_prefix, _uri)

DEFAULT_UNIT = "C62"  # UN/ECE Rec 20 "one"
# Our unit labels (lower case) -> UN/ECE Rec 20 codes; a label ending in "-hour" is an hour of something
# (vCPU-hour, GPU-hour). Anything not listed is counted in "one" (C62); the line's name says what it is.
UNIT_CODES = {
    "hour": "HUR",
    "hours": "HUR",
    "h": "HUR",
    "minute": "MIN",
    "minutes": "MIN",
    "second": "SEC",
    "seconds": "SEC",
    "day": "DAY",
    "days": "DAY",
    "month": "MON",
    "months": "MON",
    "year": "ANN",
    "kb": "2P",
    "mb": "4L",
    "gb": "E34",
    "tb": "E35",
    "kwh": "KWH",
}
REVERSE_CHARGE = "AE"
NO_CHARGES = "No charges in this period"


@dataclass(frozen=True)
class Party:
    name: str
    address_lines: tuple[str, ...]
    country: str
    vat_id: str


@dataclass(frozen=True)
class CiiLine:
    line_id: str
    name: str
    billed_quantity: Decimal  # signed: the line's sign
    unit_code: str
    price: Decimal  # net price, never negative (BR-27)
    basis_quantity: Decimal | None  # None: the price is per unit
    net_amount: Decimal
    category: str
    rate: Decimal | None  # None for category O (not subject to VAT)


@dataclass(frozen=True)
class CiiTax:
    category: str
    rate: Decimal | None
    taxable: Decimal
    tax: Decimal
    exemption_reason: str
    exemption_code: str


@dataclass(frozen=True)
class CiiDocument:
    number: str
    type_code: str
    issue_date: date
    currency: str
    seller: Party
    buyer: Party
    lines: tuple[CiiLine, ...]
    taxes: tuple[CiiTax, ...]
    line_total: Decimal  # BT-106
    tax_total: Decimal  # BT-110
    grand_total: Decimal  # BT-112
    prepaid: Decimal  # BT-113
    rounding: Decimal  # BT-114
    due_payable: Decimal  # BT-115
    notes: tuple[str, ...] = ()
    due_date: date | None = None
    payment_terms: str = ""
    period: tuple[date, date] | None = None
    referenced: tuple[str, date | None] | None = None  # BT-25 / BT-26, credit notes


# --- reading stored documents -----------------------------------------------------------------------


def invoice_cii(invoice: Invoice) -> CiiDocument:
    """The CII values of an issued invoice (three queries: tenant, lines, breakdown)."""
    tenant = invoice.tenant
    assert invoice.number, "only issued invoices have an e-invoice"
    lines = list(InvoiceLine.objects.filter(invoice_id=invoice.pk).order_by("position"))
    rows = list(TaxBreakdown.objects.filter(invoice_id=invoice.pk).order_by("id"))
    inclusive = invoice.tax_mode == Invoice.TaxMode.INCLUSIVE
    taxes, items = _taxes_and_items(
        lines,
        rows,
        subtotal=invoice.subtotal,
        tax_total=invoice.tax_total,
        rate=invoice.tax_rate,
        inclusive=inclusive,
        currency=invoice.currency,
    )
    if not items:  # EN 16931 needs a line (BR-16): a period without charges states one line of 0
        first = taxes[0]
        items = [_Item(NO_CHARGES, Decimal(0), None, "", None, first.category, first.rate)]
    issue = invoice.issue_date or _local_date(invoice.finalized_at, tenant.timezone)
    due = invoice.due_date
    terms = invoice.payment_terms_days
    if due is not None and terms is not None:
        payment_terms = f"Payable within {terms} days of the issue date, by {due.isoformat()}."
    elif due is not None:
        payment_terms = f"Payable by {due.isoformat()}."
    else:
        payment_terms = "Payable on receipt."
    period = None
    if invoice.period_first_day is not None and invoice.period_last_day is not None:
        period = (invoice.period_first_day, invoice.period_last_day)
    else:
        period = (
            _local_date(invoice.period_start, tenant.timezone),
            _local_date(invoice.period_end, tenant.timezone, end=True),
        )
    return _document(
        number=invoice.number,
        type_code=TYPE_INVOICE,
        issue_date=issue,
        currency=invoice.currency,
        seller_vat_id=invoice.seller_vat_id,
        buyer=Party(
            name=tenant.name,
            address_lines=_address_lines(tenant.address),
            country=(invoice.buyer_country or tenant.country).upper(),
            vat_id=invoice.buyer_vat_id or (tenant.vat_id if not invoice.issue_date else ""),
        ),
        items=items,
        taxes=taxes,
        inclusive=inclusive,
        totals=_Totals(
            subtotal=invoice.subtotal,
            tax_total=invoice.tax_total,
            total=invoice.total,
            rounding=invoice.rounding_amount if inclusive else None,
            prepaid=invoice.credits_applied,
            due=invoice.amount_due,
        ),
        notes=tuple(note for note in (invoice.tax_note,) if note),
        due_date=due,
        payment_terms=payment_terms,
        period=period,
        referenced=None,
    )


def credit_note_cii(note: CreditNote) -> CiiDocument:
    """The CII values of a credit note (its invoice and tenant, lines, breakdown: four queries)."""
    invoice = Invoice.objects.select_related("tenant").get(pk=note.invoice_id)
    tenant = invoice.tenant
    lines = list(CreditNoteLine.objects.filter(credit_note_id=note.pk).order_by("id"))
    rows = list(TaxBreakdown.objects.filter(credit_note_id=note.pk).order_by("id"))
    inclusive = invoice.tax_mode == Invoice.TaxMode.INCLUSIVE
    taxes, items = _taxes_and_items(
        lines,
        rows,
        subtotal=note.subtotal,
        tax_total=note.tax_total,
        rate=invoice.tax_rate,
        inclusive=inclusive,
        currency=note.currency,
    )
    invoice_issued = invoice.issue_date or _local_date(invoice.finalized_at, tenant.timezone)
    period = None
    if invoice.period_first_day is not None and invoice.period_last_day is not None:
        period = (invoice.period_first_day, invoice.period_last_day)
    return _document(
        number=note.number,
        type_code=TYPE_CREDIT_NOTE,
        issue_date=_local_date(note.created_at, tenant.timezone),
        currency=note.currency,
        seller_vat_id=invoice.seller_vat_id,
        buyer=Party(
            name=tenant.name,
            address_lines=_address_lines(tenant.address),
            country=(invoice.buyer_country or tenant.country).upper(),
            vat_id=invoice.buyer_vat_id or (tenant.vat_id if not invoice.issue_date else ""),
        ),
        items=items,
        taxes=taxes,
        inclusive=inclusive,
        totals=_Totals(
            subtotal=note.subtotal,
            tax_total=note.tax_total,
            total=note.total,
            rounding=None,  # inclusive: what is left of the total after net + tax
            prepaid=Decimal(0),
            due=note.total,
        ),
        notes=tuple(text for text in (note.reason, invoice.tax_note) if text),
        due_date=None,
        payment_terms=f"Credit note for invoice {invoice.number}: the amount is credited to your account.",
        period=period,
        referenced=(invoice.number or "", invoice_issued),
    )


@dataclass(frozen=True)
class _Totals:
    subtotal: Decimal
    tax_total: Decimal
    total: Decimal
    rounding: Decimal | None
    prepaid: Decimal
    due: Decimal


@dataclass(frozen=True)
class _Item:
    description: str
    amount: Decimal  # as stored: net (exclusive) or gross (inclusive), rounded, signed
    quantity: Decimal | None
    unit_label: str
    unit_price: Decimal | None
    category: str
    rate: Decimal | None


def _taxes_and_items(
    lines: Sequence[InvoiceLine] | Sequence[CreditNoteLine],
    rows: Sequence[TaxBreakdown],
    *,
    subtotal: Decimal,
    tax_total: Decimal,
    rate: Decimal | None,
    inclusive: bool,
    currency: str,
) -> tuple[list[CiiTax], list[_Item]]:
    """A document's VAT rows (its stored breakdown, else the one row of a pre-breakdown document, whose
    category then applies to every line) and its items; `rate` is the document's (invoice's) rate, for
    lines without one. A credit note line states no unit price."""
    legacy = None
    if rows:
        taxes = _stored_taxes(rows, currency)
    else:
        legacy, taxes = _legacy_taxes(
            subtotal=subtotal, tax_total=tax_total, rate=rate, inclusive=inclusive, currency=currency
        )
    items = [
        _Item(
            line.description,
            line.amount,
            line.quantity,
            line.unit_label,
            line.unit_price if isinstance(line, InvoiceLine) else None,
            legacy or line.tax_category,
            _rate(line.tax_rate, rate),
        )
        for line in lines
    ]
    return taxes, items


def _rate(line_rate: Decimal | None, document_rate: Decimal | None) -> Decimal | None:
    return line_rate if line_rate is not None else document_rate


def _key(category: str, rate: Decimal | None) -> tuple[str, Decimal]:
    return (category, (rate or Decimal(0)).normalize())


def _stored_taxes(rows: Sequence[TaxBreakdown], currency: str) -> list[CiiTax]:
    return [
        CiiTax(
            category=row.category,
            rate=None if row.category == "O" else row.rate,
            taxable=quantize_money(row.taxable_amount, currency),
            tax=quantize_money(row.tax_amount, currency),
            exemption_reason=row.exemption_reason,
            exemption_code=row.exemption_code,
        )
        for row in rows
    ]


def _legacy_taxes(
    *, subtotal: Decimal, tax_total: Decimal, rate: Decimal | None, inclusive: bool, currency: str
) -> tuple[str, list[CiiTax]]:
    """A document computed before breakdown rows were stored (ledger 0008) had one rate: its category
    (S, or Z at 0 %) and the one breakdown row of its stored totals, as ledger.pdf prints it."""
    category = "S" if rate else "Z"
    taxable = subtotal - tax_total if inclusive else subtotal
    row = CiiTax(
        category=category,
        rate=rate or Decimal(0),
        taxable=quantize_money(taxable, currency),
        tax=quantize_money(tax_total, currency),
        exemption_reason="",
        exemption_code="",
    )
    return category, [row]


def _document(
    *,
    number: str,
    type_code: str,
    issue_date: date,
    currency: str,
    seller_vat_id: str,
    buyer: Party,
    items: Sequence[_Item],
    taxes: Sequence[CiiTax],
    inclusive: bool,
    totals: _Totals,
    notes: tuple[str, ...],
    due_date: date | None,
    payment_terms: str,
    period: tuple[date, date] | None,
    referenced: tuple[str, date | None] | None,
) -> CiiDocument:
    issuer: dict[str, Any] = getattr(settings, "INVOICE_ISSUER", {})
    seller_vat = seller_vat_id or str(issuer.get("vat_id", ""))
    seller = Party(
        name=str(issuer.get("name", "")),
        address_lines=_address_lines(str(issuer.get("address", ""))),
        country=str(issuer.get("country") or _country_of_vat_id(seller_vat)).upper(),
        vat_id=seller_vat,
    )
    nets = _net_amounts(items, taxes, currency) if inclusive else [item.amount for item in items]
    lines = tuple(
        _line(str(position), item, net, currency, exact_price=not inclusive)
        for position, (item, net) in enumerate(zip(items, nets, strict=True), start=1)
    )
    # The stored totals, as printed; the checks re-derive them from the lines and the breakdown.
    if inclusive:  # the stored subtotal is gross: the net line total is the breakdown's taxable amounts
        line_total = sum((tax.taxable for tax in taxes), Decimal(0))
        rounding = totals.rounding
        if rounding is None:
            rounding = totals.total - line_total - totals.tax_total
    else:
        line_total, rounding = totals.subtotal, Decimal(0)
    grand = totals.total - rounding
    return CiiDocument(
        number=number,
        type_code=type_code,
        issue_date=issue_date,
        currency=currency,
        seller=seller,
        buyer=buyer,
        lines=lines,
        taxes=tuple(taxes),
        line_total=quantize_money(line_total, currency),
        tax_total=quantize_money(totals.tax_total, currency),
        grand_total=quantize_money(grand, currency),
        prepaid=quantize_money(totals.prepaid, currency),
        rounding=quantize_money(rounding, currency),
        due_payable=quantize_money(totals.due, currency),
        notes=notes,
        due_date=due_date,
        payment_terms=payment_terms,
        period=period,
        referenced=referenced,
    )


def _net_amounts(items: Sequence[_Item], taxes: Sequence[CiiTax], currency: str) -> list[Decimal]:
    """Inclusive prices: each (category, rate)'s taxable amount allocated over its lines' gross amounts."""
    nets = [Decimal(0)] * len(items)
    members: dict[tuple[str, Decimal], list[int]] = defaultdict(list)
    for index, item in enumerate(items):
        members[_key(item.category, item.rate)].append(index)
    taxable = {_key(tax.category, tax.rate): tax.taxable for tax in taxes}
    for key, indexes in members.items():
        gross = [items[i].amount for i in indexes]
        target = taxable.get(key)
        if target is None:  # no breakdown row for these lines: each line's own net (the checks object)
            rate = key[1]
            target = sum((g * 100 / (100 + rate) for g in gross), Decimal(0))
            target = quantize_money(target, currency)
        for i, net in zip(
            indexes, allocate_largest_remainder(target, gross, currency, rate=key[1]), strict=True
        ):
            nets[i] = net
    return nets


def allocate_largest_remainder(
    target: Decimal, weights: Sequence[Decimal], currency: str, *, rate: Decimal = Decimal(0)
) -> list[Decimal]:
    """`target` split over `weights` in proportion, each share in the currency's minor unit, the shares
    adding up to `target` exactly: every share is floored, the units left over go one each to the
    largest remainders (ties: the earlier line). Weights adding up to 0 (a charge and its full discount)
    are split as their own net at `rate` instead, the leftover units again by largest remainder."""
    if not weights:
        return []
    unit = Decimal(1).scaleb(-currency_exponent(currency))
    whole = sum(weights, Decimal(0))
    with localcontext(WIDE_CONTEXT):
        if whole != 0:
            exact = [target * w / whole for w in weights]
        else:
            exact = [w * 100 / (100 + rate) for w in weights]
        floors = [(e / unit).to_integral_value(rounding=ROUND_FLOOR) * unit for e in exact]
        left = int((target - sum(floors, Decimal(0))) / unit)
    each, extra = divmod(left, len(weights))
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - floors[i]), i))
    shares = [f + each * unit for f in floors]
    for i in order[:extra]:
        shares[i] += unit
    return [quantize_money(s, currency) for s in shares]


def _line(line_id: str, item: _Item, net: Decimal, currency: str, *, exact_price: bool) -> CiiLine:
    """BR-27: the price is never negative; the sign is the quantity's. Net = quantity x price / basis."""
    net = quantize_money(net, currency)
    sign = Decimal(-1) if net < 0 else Decimal(1)
    quantity = abs(item.quantity) if item.quantity is not None else Decimal(0)
    price = abs(item.unit_price) if item.unit_price is not None else None
    code = unit_code(item.unit_label)
    if quantity == 0:  # no quantity: one (or minus one) of the line at its amount
        billed, code, price, basis = sign, DEFAULT_UNIT, abs(net), None
    elif exact_price and price is not None and quantity * price == abs(net):
        billed, basis = sign * quantity, None
    else:  # not exactly quantity x unit price: |amount| per |quantity|
        billed, price, basis = sign * quantity, abs(net), quantity
    return CiiLine(
        line_id=line_id,
        name=item.description,
        billed_quantity=billed,
        unit_code=code,
        price=price,
        basis_quantity=basis,
        net_amount=net,
        category=item.category,
        rate=None if item.category == "O" else item.rate,
    )


def unit_code(label: str) -> str:
    """UN/ECE Rec 20 code of one of our unit labels; C62 ("one") when there is no better one."""
    normalized = label.strip().lower()
    if normalized in UNIT_CODES:
        return UNIT_CODES[normalized]
    if normalized.endswith("-hour") or normalized.endswith(" hour"):
        return "HUR"
    return DEFAULT_UNIT


def _address_lines(text: str) -> tuple[str, ...]:
    """Printed addresses are free text: one line per line (or comma-separated part), at most three."""
    parts = [p.strip() for p in re.split(r"[\n,]", text) if p.strip()]
    if len(parts) > 3:
        parts = [*parts[:2], ", ".join(parts[2:])]
    return tuple(parts)


def _country_of_vat_id(vat_id: str) -> str:
    prefix = vat_id[:2].upper()
    return {"EL": "GR", "XI": "GB"}.get(prefix, prefix) if prefix.isalpha() else ""


def _local_date(at: datetime | None, tz: str, *, end: bool = False) -> date:
    assert at is not None
    if end:  # an exclusive end instant: the last day is the one before it
        at = at - timedelta(microseconds=1)
    return at.astimezone(ZoneInfo(tz)).date()
