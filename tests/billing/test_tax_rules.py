"""Tax rule selection and the tax arithmetic."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from billing.close.models import TaxRule
from billing.close.selectors import tax_rule_in_force
from billing.close.tax import tax_rounded


def test_exclusive_tax_is_the_rate_of_the_unrounded_sum():
    # 10.005 + 10.005 = 20.01; x 25 % = 5.0025 -> 5.00
    assert tax_rounded(
        amounts=[Decimal("10.005"), Decimal("10.005")], rate=Decimal(25), mode="exclusive", currency="EUR"
    ) == (Decimal("5.0025"), Decimal("5.00"))


def test_inclusive_tax_is_the_share_of_rate_over_100_plus_rate():
    # 119 x 19 / 119 = 19
    exact, rounded = tax_rounded(amounts=[Decimal("119")], rate=Decimal(19), mode="inclusive", currency="EUR")
    assert (exact, rounded) == (Decimal("19"), Decimal("19.00"))


def test_jpy_tax_rounds_half_up_to_whole_yen():
    assert tax_rounded(amounts=[Decimal("5")], rate=Decimal(10), mode="exclusive", currency="JPY")[
        1
    ] == Decimal("1")


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
