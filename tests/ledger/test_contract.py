"""The billing -> ledger data contract: immutable values, and the promises `invoice_data_check` enforces
(currency, rounding once, bounds, FX) before anything is stored. No database."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from common.errors import ValidationFailed
from ledger.contract import (
    AMOUNT_LIMIT,
    EXACT_LIMIT,
    FxData,
    InvoiceData,
    LineData,
    TaxData,
    TaxMode,
    invoice_data_check,
)
from ledger.vat import VatRow, vat_breakdown


def _line(exact: str, amount: str, **kwargs: Any) -> LineData:
    kwargs.setdefault("tax_rate", Decimal(19))
    return LineData(
        kind="usage", description="API calls", amount_exact=Decimal(exact), amount=Decimal(amount), **kwargs
    )


def _tax(exact: str, total: str, mode: TaxMode = "exclusive") -> TaxData:
    return TaxData(
        jurisdiction="DE",
        rate=Decimal(19),
        mode=mode,
        rule_id=None,
        exact=Decimal(exact),
        total=Decimal(total),
    )


def _data(*lines: LineData, tax: TaxData | None = None, currency: str = "EUR", **kwargs: Any) -> InvoiceData:
    if tax is not None and "vat" not in kwargs:
        kwargs["vat"] = vat_breakdown(
            ((line.tax_category, line.tax_rate or Decimal(0), line.amount) for line in lines),
            inclusive=tax.mode == "inclusive",
            currency=currency,
        )
    return InvoiceData(
        tenant_id=1,
        period_key="2026-11",
        period_start=datetime(2026, 11, 1, tzinfo=UTC),
        period_end=datetime(2026, 12, 1, tzinfo=UTC),
        currency=currency,
        profile_version_id=None,
        lines=lines,
        tax=tax,
        fx=kwargs.pop("fx", FxData(rate=Decimal(1), rate_id=None, rate_date=None, source="identity")),
        **kwargs,
    )


def test_it_accepts_lines_and_tax_rounded_once_half_up():
    # BR-CO-17: 10.01 - 2.50 = 7.51 at 19 % = 1.4269 -> 1.43
    data = _data(_line("10.005", "10.01"), _line("-2.5", "-2.50"), tax=_tax("1.4269", "1.43"))

    invoice_data_check(data)

    assert (data.subtotal, data.tax_total, data.total) == (Decimal("7.51"), Decimal("1.43"), Decimal("8.94"))


def test_an_inclusive_total_is_the_sum_of_the_lines():
    data = _data(_line("119", "119.00"), tax=_tax("19", "19.00", mode="inclusive"))

    assert (data.subtotal, data.total) == (Decimal("119.00"), Decimal("119.00"))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_data(_line("10.005", "10.00")), "line 'API calls' is not rounded once from its exact amount"),
        (_data(_line("10.005", "10.005")), "line 'API calls' is not rounded once from its exact amount"),
        (
            _data(
                _line("1", "1.00"),
                tax=_tax("0.19", "0.20"),
                vat=[VatRow("S", Decimal(19), Decimal("1.00"), Decimal("0.20"), Decimal("1.00"), Decimal(0))],
            ),
            r"the VAT breakdown is not EN 16931's \(BR-CO-17\) over the lines",
        ),
        (
            _data(_line("1", "1"), currency="JPY", tax=_tax("0.19", "1")),
            "tax is not the sum of the VAT breakdown",
        ),
        (
            _data(_line("-5", "-5.00"), tax=_tax("-0.95", "-0.95")),
            "invoice total -5.95 is negative: a decrease it cannot absorb is a credit note",
        ),
        (_data(_line("1", "1.00"), currency="XAU"), "'XAU' is not an ISO 4217 currency with a minor unit"),
        (
            _data(_line(str(AMOUNT_LIMIT), f"{AMOUNT_LIMIT}.00")),
            r"line 'API calls': amount 1000000000000000000\.00",
        ),
        (_data(_line(str(-EXACT_LIMIT), f"{-EXACT_LIMIT}.00")), "line 'API calls': exact amount"),
        (
            _data(
                _line(str(AMOUNT_LIMIT / 2), f"{AMOUNT_LIMIT / 2}.00"),
                _line(str(AMOUNT_LIMIT / 2), f"{AMOUNT_LIMIT / 2}.00"),
            ),
            r"subtotal 1000000000000000000\.00 is outside the ledger's bounds",
        ),
        (
            _data(
                _line("1", "1.00"),
                fx=FxData(rate=Decimal(0), rate_id=None, rate_date=date(2026, 11, 30), source="ECB"),
            ),
            "FX rate 0 is not a positive number",
        ),
    ],
)
def test_it_refuses_a_document_that_breaks_a_promise(data, message):
    with pytest.raises(ValidationFailed, match=message):
        invoice_data_check(data)


def test_a_blocked_document_may_carry_the_currency_that_blocked_it():
    invoice_data_check(_data(currency="ABC", fx=None, blocked_reason="profile does not validate"))


def test_the_values_are_frozen_and_slotted():
    line = _line("1", "1.00")

    with pytest.raises(dataclasses.FrozenInstanceError):
        line.amount = Decimal("2.00")  # type: ignore[misc]
    assert not hasattr(line, "__dict__")
    assert dataclasses.replace(line, amount=Decimal("1.01")).amount == Decimal("1.01")
