"""Tax rule selection and the VAT arithmetic of EN 16931 (ledger/vat.py, BR-CO-17), by hand."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.close.models import TaxRule
from billing.close.selectors import tax_rule_in_force
from common.money import quantize_money
from ledger.vat import category_for, reverse_charge_applies, vat_breakdown


def test_exclusive_tax_is_the_rate_of_the_rounded_lines_rounded_once():
    # printed lines 10.01 + 10.01 = 20.02 x 25 % = 5.005 -> 5.01 (BR-CO-17)
    (row,) = vat_breakdown(
        [("S", Decimal(25), Decimal("10.01")), ("S", Decimal(25), Decimal("10.01"))],
        inclusive=False,
        currency="EUR",
    )
    assert (row.taxable, row.tax, row.rounding) == (Decimal("20.02"), Decimal("5.01"), Decimal(0))


def test_inclusive_prices_derive_net_then_tax_by_the_same_rule():
    # gross 119.00 at 19 %: net 119 / 1.19 = 100.00, tax 19.00, nothing left over
    (row,) = vat_breakdown([("S", Decimal(19), Decimal("119.00"))], inclusive=True, currency="EUR")
    assert (row.taxable, row.tax, row.rounding) == (Decimal("100.00"), Decimal("19.00"), Decimal("0.00"))


def test_inclusive_prices_can_leave_a_rounding_amount_of_one_cent():
    # gross 0.07 at 25 %: net 0.056 -> 0.06, tax 0.015 -> 0.02 (half up), rounding 0.07 - 0.06 - 0.02 = -0.01
    (row,) = vat_breakdown([("S", Decimal(25), Decimal("0.07"))], inclusive=True, currency="EUR")
    assert (row.taxable, row.tax, row.rounding) == (Decimal("0.06"), Decimal("0.02"), Decimal("-0.01"))


def test_each_rate_is_its_own_row():
    rows = vat_breakdown(
        [
            ("S", Decimal(19), Decimal("10.00")),
            ("S", Decimal(7), Decimal("10.00")),
            ("S", Decimal("19.0000"), Decimal("5.00")),
        ],
        inclusive=False,
        currency="EUR",
    )
    assert [(r.rate, r.taxable, r.tax) for r in rows] == [
        (Decimal(19), Decimal("15.00"), Decimal("2.85")),
        (Decimal(7), Decimal("10.00"), Decimal("0.70")),
    ]


def test_jpy_tax_rounds_half_up_to_whole_yen():
    (row,) = vat_breakdown([("S", Decimal(10), Decimal("5"))], inclusive=False, currency="JPY")
    assert row.tax == Decimal("1")  # 0.5 -> 1


def test_reverse_charge_rows_carry_their_exemption():
    (row,) = vat_breakdown([("AE", Decimal(0), Decimal("100.00"))], inclusive=False, currency="EUR")
    assert (row.tax, row.exemption_reason, row.exemption_code) == (
        Decimal("0.00"),
        "Reverse charge",
        "VATEX-EU-AE",
    )


@pytest.mark.parametrize(
    ("buyer", "vat_id", "seller", "applies"),
    [
        ("FR", "FR40303265045", "DE", True),
        ("DE", "DE811907980", "DE", False),  # domestic
        ("FR", "", "DE", False),  # a consumer
        ("US", "US123", "DE", False),  # outside the EU
        ("FR", "FR40303265045", "US", False),  # a seller outside the EU
    ],
)
def test_reverse_charge_is_eu_b2b_across_a_border(buyer, vat_id, seller, applies):
    assert reverse_charge_applies(buyer_country=buyer, buyer_vat_id=vat_id, seller_country=seller) is applies


def test_a_zero_rate_is_category_z_and_a_positive_one_s():
    assert (
        category_for(rate=Decimal(0), reverse_charge=False),
        category_for(rate=Decimal(19), reverse_charge=False),
    ) == (
        "Z",
        "S",
    )


_cents = st.integers(min_value=-(10**9), max_value=10**9).map(lambda c: Decimal(c) / 100)
_rates = st.sampled_from(
    [Decimal(0), Decimal("5.5"), Decimal(7), Decimal(10), Decimal(19), Decimal(20), Decimal(25)]
)


@given(st.lists(st.tuples(_rates, _cents), min_size=1, max_size=12), st.booleans())
def test_every_row_rederives_from_its_printed_figures(lines, inclusive):
    rows = vat_breakdown([("S", rate, amount) for rate, amount in lines], inclusive=inclusive, currency="EUR")
    for row in rows:
        gross = sum((amount for rate, amount in lines if rate == row.rate), Decimal(0))
        assert row.gross == gross
        assert row.tax == quantize_money(row.taxable * row.rate / 100, "EUR")  # BR-CO-17
        if inclusive:
            assert row.taxable + row.tax + row.rounding == gross
            assert abs(row.rounding) <= Decimal("0.01")
        else:
            assert (row.taxable, row.rounding) == (gross, Decimal(0))


@pytest.mark.django_db
def test_the_rule_in_force_on_a_date_is_picked_and_its_end_is_exclusive():
    TaxRule.objects.create(
        jurisdiction="GB",
        name="old",
        rate=Decimal("17.5"),
        effective_from=date(2008, 12, 1),
        effective_to=date(2011, 1, 4),
    )
    TaxRule.objects.create(jurisdiction="GB", name="new", rate=Decimal(20), effective_from=date(2011, 1, 4))
    assert tax_rule_in_force(jurisdiction="GB", on=date(2011, 1, 3)).name == "old"  # type: ignore[union-attr]
    assert tax_rule_in_force(jurisdiction="GB", on=date(2011, 1, 4)).name == "new"  # type: ignore[union-attr]
    assert tax_rule_in_force(jurisdiction="GB", on=date(2000, 1, 1)) is None
