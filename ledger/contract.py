"""The data billing hands to the ledger: one computed invoice (its lines, tax and FX) and a batch issue
request. Plain immutable values, so the ledger never imports billing and billing imports from the ledger
only these names and the services that take them.

What a document promises, checked by `invoice_data_check` before the ledger stores anything (a broken
promise is a `ValidationFailed`, never a silently truncated or re-rounded figure):

- Currency: every amount of a document is a `Decimal` (never a float) in its `currency`, an ISO 4217
  code with a minor unit (EUR 2 decimals, JPY 0, KWD 3).
- Exact vs rounded: `LineData.amount_exact` is billing's unrounded result; `LineData.amount` is exactly
  that rounded once to the currency's minor unit, ROUND_HALF_UP. The rounded figures are the invoice:
  the subtotal is the sum of the rounded lines. Tax is EN 16931's (ledger/vat.py, rule BR-CO-17): one
  `VatRow` per category and rate, its tax = taxable x rate rounded once; `TaxData.total` is the sum of
  the rows' tax and `TaxData.exact` the sum of their unrounded tax (audit). The total is subtotal + tax
  (exclusive) or the subtotal (inclusive: the lines contain the tax; net and tax are derived per rate,
  a minor-unit remainder is the rounding amount). Never negative: a net decrease the invoice cannot
  absorb travels as `CorrectionCredit`s, issued as credit notes against the corrected invoices.
- Bounds: every rounded amount (lines, subtotal, tax, total) is below 10^18 in absolute value and every
  exact amount below 10^22: the NUMERIC(22, 4) and NUMERIC(40, 18) columns they are stored in. Lines
  may be negative (discounts, corrections).
- FX: `FxData.rate` converts the invoice currency to the ledger's base currency (1 unit = rate base
  units) and is positive; the ledger rounds each converted leg once when it posts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from common.errors import ValidationFailed
from common.money import is_known_currency, quantize_money
from ledger.models.invoices import EXACT_DIGITS, EXACT_PLACES
from ledger.models.journal import AMOUNT_DIGITS, AMOUNT_PLACES
from ledger.vat import VatRow, vat_breakdown

if TYPE_CHECKING:
    from ledger.models import Invoice
    from tenants.models import Tenant

__all__ = [
    "AMOUNT_LIMIT",
    "EXACT_LIMIT",
    "CorrectionCredit",
    "FxData",
    "InvoiceData",
    "IssueRequest",
    "LineData",
    "TaxData",
    "TaxMode",
    "invoice_data_check",
    "lines_vat",
]

TaxMode = Literal["exclusive", "inclusive"]

# Exclusive upper bounds of |amount|: the integer digits of the columns the amounts are stored in.
AMOUNT_LIMIT = Decimal(10) ** (AMOUNT_DIGITS - AMOUNT_PLACES)
EXACT_LIMIT = Decimal(10) ** (EXACT_DIGITS - EXACT_PLACES)


@dataclass(frozen=True, slots=True)
class LineData:
    """One invoice line. `kind` is an `InvoiceLine.Kind` value (usage, flat, discount, minimum,
    correction); a correction names the invoice and period it corrects."""

    kind: str
    description: str
    amount_exact: Decimal  # unrounded, in the invoice currency
    amount: Decimal  # amount_exact rounded once to the currency's minor unit (ROUND_HALF_UP)
    sku_code: str = ""
    service_category: str = ""
    profile_version_id: int | None = None
    quantity: Decimal | None = None
    unit_label: str = ""
    unit_price: Decimal | None = None
    discount_code: str = ""
    segment_start: datetime | None = None
    segment_end: datetime | None = None
    breakdown: Sequence[Any] = ()  # JSON-serializable rows explaining the amount (tiers, events)
    corrects_invoice_id: int | None = None
    corrects_period: str = ""
    # What the line prices, stable across re-computations of its period ("usage:<sku>:<version id>",
    # "flat:<sku>:<version id>", "discount:<code>", "minimum"); corrections name the corrected component.
    component: str = ""
    tax_category: str = "S"  # UNCL 5305 (ledger/vat.py)
    tax_rate: Decimal | None = None  # percent
    billed_before: Decimal | None = None  # corrections: as last invoiced (rounded)
    repriced: Decimal | None = None  # corrections: as re-priced now (rounded)


@dataclass(frozen=True, slots=True)
class CorrectionCredit:
    """A net decrease of an earlier period that the invoice cannot absorb: issued, when the invoice is
    finalized, as a credit note against `invoice_id` whose lines are `lines` with their signs reversed
    (a credit of 30.00 is a line of -30.00 here, as it would have been on the invoice)."""

    invoice_id: int
    period_key: str
    lines: Sequence[LineData]
    vat: Sequence[VatRow]

    @property
    def subtotal(self) -> Decimal:
        """The credit before tax, positive."""
        return -sum((line.amount for line in self.lines), Decimal(0))

    @property
    def tax(self) -> Decimal:
        return -sum((row.tax for row in self.vat), Decimal(0))


@dataclass(frozen=True, slots=True)
class TaxData:
    jurisdiction: str
    rate: Decimal  # percent
    mode: TaxMode
    rule_id: int | None
    exact: Decimal  # unrounded, as billing computed it
    total: Decimal  # exact rounded once to the currency's minor unit (ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class FxData:
    rate: Decimal  # 1 invoice currency = rate base currency, > 0
    rate_id: int | None
    rate_date: date | None
    source: str


@dataclass(frozen=True, slots=True)
class InvoiceData:
    """A tenant's invoice for one period as billing computed it. A non-empty `blocked_reason` stores it
    as blocked (with an alert) instead of a draft; a blocked invoice is never issued."""

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
    vat: Sequence[VatRow] = field(default=())  # the VAT breakdown (empty when there is no tax rule)
    correction_credits: Sequence[CorrectionCredit] = field(default=())
    # What the document prints (tenant-local period days, terms, tax IDs, legal note).
    period_first_day: date | None = None
    period_last_day: date | None = None
    payment_terms_days: int | None = None
    seller_vat_id: str = ""
    buyer_vat_id: str = ""
    buyer_country: str = ""
    reverse_charge: bool = False
    tax_note: str = ""

    @property
    def rounding_amount(self) -> Decimal:
        return sum((row.rounding for row in self.vat), Decimal(0))

    @property
    def subtotal(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal(0))

    @property
    def tax_total(self) -> Decimal:
        return self.tax.total if self.tax else Decimal(0)

    @property
    def total(self) -> Decimal:
        if self.tax and self.tax.mode == "inclusive":
            return self.subtotal
        return self.subtotal + self.tax_total


@dataclass(frozen=True, slots=True)
class IssueRequest:
    """One invoice to store and finalize in a batch close (`invoices_issue_many`)."""

    data: InvoiceData  # computed, not blocked
    tenant: Tenant  # locked by the caller
    existing: Invoice | None  # the period's draft or blocked invoice, locked by the caller; None: none


def _check_bound(what: str, value: Decimal, limit: Decimal) -> None:
    if not value.is_finite() or abs(value) >= limit:
        raise ValidationFailed(f"{what} {value} is outside the ledger's bounds (|amount| < {limit:.0E})")


def invoice_data_check(data: InvoiceData) -> None:
    """Refuse a document that breaks the module's promises (currency, rounding once, bounds, FX). A
    blocked document may carry the currency that blocked it; it is stored, never issued."""
    if not data.blocked_reason and not is_known_currency(data.currency):
        raise ValidationFailed(f"{data.currency!r} is not an ISO 4217 currency with a minor unit")
    for line in data.lines:
        _check_bound(f"line {line.description!r}: exact amount", line.amount_exact, EXACT_LIMIT)
        if line.amount != quantize_money(line.amount_exact, data.currency):
            raise ValidationFailed(f"line {line.description!r} is not rounded once from its exact amount")
        _check_bound(f"line {line.description!r}: amount", line.amount, AMOUNT_LIMIT)
    if data.tax is not None:
        _check_bound("exact tax", data.tax.exact, EXACT_LIMIT)
        _check_vat(data.vat, data.lines, data.currency, inclusive=data.tax.mode == "inclusive")
        if data.tax.total != sum((row.tax for row in data.vat), Decimal(0)):
            raise ValidationFailed("tax is not the sum of the VAT breakdown")
    for what, value in (("subtotal", data.subtotal), ("tax", data.tax_total), ("total", data.total)):
        _check_bound(what, value, AMOUNT_LIMIT)
    if not data.blocked_reason and data.total < 0:
        raise ValidationFailed(
            f"invoice total {data.total} is negative: a decrease it cannot absorb is a credit note"
        )
    if data.fx is not None and not (data.fx.rate.is_finite() and data.fx.rate > 0):
        raise ValidationFailed(f"FX rate {data.fx.rate} is not a positive number")


def lines_vat(lines: Sequence[LineData], *, inclusive: bool, currency: str) -> list[VatRow]:
    """The VAT breakdown (ledger/vat.py, BR-CO-17) of document lines, by their category and rate."""
    return vat_breakdown(
        ((line.tax_category, line.tax_rate or Decimal(0), line.amount) for line in lines),
        inclusive=inclusive,
        currency=currency,
    )


def _check_vat(vat: Sequence[VatRow], lines: Sequence[LineData], currency: str, *, inclusive: bool) -> None:
    """Each row is BR-CO-17 over the lines at its category and rate, and every line is in one row."""
    expected = lines_vat(lines, inclusive=inclusive, currency=currency)
    if sorted(expected, key=_row_key) != sorted(vat, key=_row_key):
        raise ValidationFailed("the VAT breakdown is not EN 16931's (BR-CO-17) over the lines")


def _row_key(row: VatRow) -> tuple[str, Decimal]:
    return (row.category, row.rate)
