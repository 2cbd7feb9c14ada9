"""per_unit, package and flat: hand-computed worked examples and boundaries (DESIGN "Pricing semantics")."""

from decimal import Decimal

from billing.pricing import FlatRow, PackageRow, UnitRow
from tests.pricing.helpers import D, amount, priced

STORAGE = {"model": "per_unit", "unit_amount": "0.023", "free_units": "5"}
PLAIN = {"model": "per_unit", "unit_amount": "0.10"}
EGRESS = {"model": "package", "package_size": "100", "package_amount": "5.00", "free_units": "10"}
USD_EGRESS = {"model": "package", "package_size": "50", "package_amount": "4.50"}
PLATFORM = {"model": "flat", "amount": "99.00"}


# -- per_unit ---------------------------------------------------------------------------------------


def test_per_unit_charges_the_units_above_the_free_units():
    # (105 - 5) x 0.023 = 2.3
    assert amount(STORAGE, "105") == D("2.3")


def test_per_unit_is_zero_while_inside_the_free_units():
    assert amount(STORAGE, "3") == 0


def test_per_unit_charges_fractional_units_exactly():
    # (1234.5 - 5) x 0.023 = 28.2785
    assert amount(STORAGE, "1234.5") == D("28.2785")


def test_per_unit_without_free_units_charges_every_unit():
    assert amount(PLAIN, "7") == D("0.7")


def test_per_unit_at_quantity_zero_is_zero():
    assert amount(PLAIN, "0") == 0


def test_per_unit_at_one_hundredth_of_a_unit_is_not_rounded():
    assert amount(PLAIN, "0.01") == D("0.001")


def test_per_unit_at_10_to_the_12_is_exact():
    assert amount(STORAGE, 10**12) == D("22999999999.885")


def test_per_unit_breakdown_shows_free_and_billable_units():
    result = priced(STORAGE, "105")

    assert result.breakdown == (UnitRow(D("105"), D("5"), D("100"), D("0.023"), D("2.3")),)


# -- package ----------------------------------------------------------------------------------------


def test_package_rounds_the_packages_up_after_the_free_units():
    # ceil((1234 - 10) / 100) = 13 packages x 5.00 = 65
    assert amount(EGRESS, "1234") == D("65")


def test_package_is_zero_when_nothing_is_left_after_the_free_units():
    assert (amount(EGRESS, "10"), amount(EGRESS, "0")) == (D(0), D(0))


def test_package_exactly_full_needs_no_extra_package():
    # (110 - 10) / 100 = 1 package
    assert amount(EGRESS, "110") == D("5")


def test_package_one_unit_over_starts_a_new_package():
    assert amount(EGRESS, "111") == D("10")


def test_package_one_hundredth_over_the_free_units_starts_a_package():
    assert amount(EGRESS, "10.01") == D("5")


def test_package_without_free_units():
    # ceil(1234 / 50) = 25 x 4.50 = 112.5
    assert amount(USD_EGRESS, "1234") == D("112.5")


def test_package_at_10_to_the_12():
    # ceil((10^12 - 10) / 100) = 9,999,999,999.9 -> 10,000,000,000 packages x 5
    assert amount(EGRESS, 10**12) == D("50000000000")


def test_package_with_a_fractional_size():
    # ceil(1 / 0.3) = 4 packages x 2 = 8
    assert amount({"model": "package", "package_size": "0.3", "package_amount": "2"}, "1") == D("8")


def test_package_breakdown_counts_the_packages():
    result = priced(EGRESS, "1234")

    assert result.breakdown == (
        PackageRow(D("1234"), D("10"), D("1224"), D("100"), D("13"), D("5.00"), D("65.00")),
    )


# -- flat -------------------------------------------------------------------------------------------


def test_flat_charges_the_amount_once_whatever_the_quantity():
    assert (amount(PLATFORM, "0"), amount(PLATFORM, "1"), amount(PLATFORM, 10**12)) == (
        D("99.00"),
        D("99.00"),
        D("99.00"),
    )


def test_flat_in_yen():
    assert amount({"model": "flat", "amount": "15000"}, "3") == D("15000")


def test_flat_of_zero_is_zero():
    assert amount({"model": "flat", "amount": "0"}) == 0


def test_flat_breakdown_is_one_charged_row():
    assert priced(PLATFORM).breakdown == (FlatRow(Decimal("99.00"), charged=True),)
