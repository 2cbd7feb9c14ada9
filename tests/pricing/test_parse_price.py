"""parse_price: typed prices from document entries; every error named by its field path."""

from decimal import Decimal

import pytest

from billing.pricing import (
    FlatPrice,
    GraduatedPercentagePrice,
    GraduatedPrice,
    PackagePrice,
    PercentagePrice,
    PerUnitPrice,
    PricingError,
    RateTier,
    Tier,
    VolumePrice,
    parse_price,
)

D = Decimal
TIERS = [{"up_to": "1000", "unit_amount": "0"}, {"up_to": None, "unit_amount": "0.001", "flat_amount": "5"}]


def errors_of(entry, path="price"):
    with pytest.raises(PricingError) as err:
        parse_price(entry, path=path)
    return [str(e) for e in err.value.errors]


def test_it_parses_per_unit_with_defaults():
    assert parse_price({"model": "per_unit", "unit_amount": "0.10"}) == PerUnitPrice(D("0.10"), D(0))


def test_it_keeps_the_sku_when_given():
    parsed = parse_price({"sku": "storage", "model": "per_unit", "unit_amount": "0.023", "free_units": "5"})

    assert parsed == PerUnitPrice(D("0.023"), D("5"), sku="storage")


def test_it_parses_graduated_tiers_with_flat_amount_defaulting_to_zero():
    assert parse_price({"model": "graduated", "tiers": TIERS}) == GraduatedPrice(
        (Tier(D("1000"), D("0"), D("0")), Tier(None, D("0.001"), D("5")))
    )


def test_it_parses_volume_tiers():
    assert parse_price({"model": "volume", "tiers": TIERS}) == VolumePrice(
        (Tier(D("1000"), D("0")), Tier(None, D("0.001"), D("5")))
    )


def test_it_parses_graduated_percentage_tiers():
    entry = {
        "model": "graduated_percentage",
        "tiers": [{"up_to": 10, "rate": "1.4"}, {"up_to": None, "rate": "1"}],
    }

    assert parse_price(entry) == GraduatedPercentagePrice((RateTier(D(10), D("1.4")), RateTier(None, D(1))))


def test_it_parses_package():
    entry = {"model": "package", "package_size": "100", "package_amount": "5.00"}

    assert parse_price(entry) == PackagePrice(D("100"), D("5.00"), D(0))


def test_it_parses_percentage_with_unset_allowances_as_none():
    assert parse_price({"model": "percentage", "rate": "2.9"}) == PercentagePrice(D("2.9"))


def test_it_parses_a_full_percentage():
    entry = {
        "model": "percentage",
        "rate": "2.9",
        "fixed_amount": "0.30",
        "free_events": 10,
        "free_units": "500",
        "min_per_event": "0.50",
        "max_per_event": "25.00",
    }

    assert parse_price(entry) == PercentagePrice(D("2.9"), D("0.30"), 10, D("500"), D("0.50"), D("25.00"))


def test_it_parses_flat():
    assert parse_price({"model": "flat", "amount": "99.00"}) == FlatPrice(D("99.00"))


def test_it_accepts_exact_json_numbers_as_decimals_and_ints():
    assert parse_price({"model": "per_unit", "unit_amount": D("0.1"), "free_units": 3}) == PerUnitPrice(
        D("0.1"), D(3)
    )


def test_tiers_must_ascend():
    tiers = [
        {"up_to": "1000", "unit_amount": "1"},
        {"up_to": "500", "unit_amount": "1"},
        {"up_to": None, "unit_amount": "1"},
    ]

    assert errors_of({"model": "graduated", "tiers": tiers}, "prices[2]") == [
        "prices[2].tiers[1].up_to: must be greater than 1000"
    ]


def test_equal_up_tos_are_refused():
    tiers = [
        {"up_to": "10", "unit_amount": "1"},
        {"up_to": "10", "unit_amount": "1"},
        {"up_to": None, "unit_amount": "1"},
    ]

    assert errors_of({"model": "volume", "tiers": tiers}) == ["price.tiers[1].up_to: must be greater than 10"]


def test_the_first_up_to_must_be_positive():
    tiers = [{"up_to": "0", "unit_amount": "1"}, {"up_to": None, "unit_amount": "1"}]

    assert errors_of({"model": "graduated", "tiers": tiers}) == [
        "price.tiers[0].up_to: must be greater than 0"
    ]


def test_the_last_tier_must_be_open_ended():
    tiers = [{"up_to": "10", "unit_amount": "1"}, {"up_to": "20", "unit_amount": "1"}]

    assert errors_of({"model": "graduated", "tiers": tiers}) == [
        "price.tiers[1].up_to: the last tier must be open-ended (null)"
    ]


def test_only_the_last_tier_may_be_open_ended():
    tiers = [{"up_to": None, "unit_amount": "1"}, {"up_to": None, "unit_amount": "2"}]

    assert errors_of({"model": "graduated", "tiers": tiers}) == [
        "price.tiers[0].up_to: only the last tier may be open-ended (null)"
    ]


def test_tiers_must_not_be_empty():
    assert errors_of({"model": "graduated", "tiers": []}) == ["price.tiers: must not be empty"]


def test_tiers_must_be_a_list():
    assert errors_of({"model": "volume", "tiers": {"up_to": None}}) == ["price.tiers: must be a list"]


def test_a_tier_needs_up_to_and_its_amount():
    assert errors_of({"model": "graduated", "tiers": [{}]}) == [
        "price.tiers[0].unit_amount: is required",
        "price.tiers[0].up_to: is required",
    ]


def test_a_graduated_percentage_tier_needs_a_rate_not_a_unit_amount():
    assert errors_of({"model": "graduated_percentage", "tiers": [{"up_to": None, "unit_amount": "1"}]}) == [
        "price.tiers[0].rate: is required",
        "price.tiers[0].unit_amount: unknown key",
    ]


def test_amounts_must_be_decimal_strings():
    assert errors_of({"model": "per_unit", "unit_amount": "abc"}) == [
        "price.unit_amount: must be a decimal number such as \"12.50\" (got 'abc')"
    ]


def test_amounts_must_not_be_floats():
    assert errors_of({"model": "flat", "amount": 99.5}) == [
        'price.amount: must be a decimal string such as "99.5", not a float'
    ]


def test_amounts_must_not_be_negative():
    assert errors_of({"model": "graduated", "tiers": [{"up_to": None, "unit_amount": "-1"}]}) == [
        "price.tiers[0].unit_amount: must not be negative"
    ]


@pytest.mark.parametrize("rate", ["-0.1", "100.01"])
def test_percentages_must_be_between_0_and_100(rate):
    assert errors_of({"model": "percentage", "rate": rate}) == ["price.rate: must be between 0 and 100"]


@pytest.mark.parametrize("rate", ["0", "100"])
def test_percentages_of_0_and_100_are_allowed(rate):
    assert parse_price({"model": "percentage", "rate": rate}) == PercentagePrice(D(rate))


def test_min_per_event_must_not_exceed_max_per_event():
    entry = {"model": "percentage", "rate": "1", "min_per_event": "30", "max_per_event": "25.00"}

    assert errors_of(entry) == ["price.min_per_event: must not be greater than max_per_event (25)"]


def test_free_events_must_be_a_non_negative_integer():
    assert errors_of({"model": "percentage", "rate": "1", "free_events": "10"}) == [
        "price.free_events: must be an integer"
    ]
    assert errors_of({"model": "percentage", "rate": "1", "free_events": -1}) == [
        "price.free_events: must not be negative"
    ]


def test_package_size_must_be_positive():
    assert errors_of({"model": "package", "package_size": "0", "package_amount": "5"}) == [
        "price.package_size: must be greater than 0"
    ]


def test_unknown_keys_are_refused():
    assert errors_of({"model": "flat", "amount": "1", "unit_amount": "2"}) == [
        "price.unit_amount: unknown key"
    ]


def test_unknown_models_are_refused():
    assert errors_of({"model": "tiered"}) == [
        "price.model: must be one of: "
        "per_unit, graduated, graduated_percentage, volume, package, percentage, flat"
    ]


def test_the_model_is_required():
    assert errors_of({"unit_amount": "1"}) == ["price.model: is required"]


def test_a_price_must_be_an_object():
    assert errors_of(["per_unit"]) == ["price: must be an object"]


def test_a_bad_sku_code_is_refused():
    assert errors_of({"sku": "api calls", "model": "flat", "amount": "1"}) == [
        "price.sku: must be a code of 1 to 64 letters, digits, '-' or '_'"
    ]


def test_it_reports_every_error_at_once_in_path_order():
    entry = {
        "model": "graduated",
        "bonus": True,
        "tiers": [
            {"up_to": "10", "unit_amount": "x"},
            {"up_to": "5", "unit_amount": "1", "flat_amount": "-2"},
            {"up_to": "20", "unit_amount": "1"},
        ],
    }

    assert errors_of(entry, "prices[2]") == [
        "prices[2].bonus: unknown key",
        "prices[2].tiers[0].unit_amount: must be a decimal number such as \"12.50\" (got 'x')",
        "prices[2].tiers[1].flat_amount: must not be negative",
        "prices[2].tiers[1].up_to: must be greater than 10",
        "prices[2].tiers[2].up_to: the last tier must be open-ended (null)",
    ]
