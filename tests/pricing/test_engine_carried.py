"""Carried usage: a period split between profile versions continues where the earlier segment stopped.

A continuing segment costs P(carried + q) - P(carried) under its own price; `carried_quantity=None`
means "first segment of the period", `Decimal(0)` "an earlier segment exists and used nothing"."""

import pytest

from billing.pricing import FlatRow, PricingError, Segment, TierRow, parse_price, price, price_segments
from tests.pricing.helpers import API_CALLS, WITH_ENTRY_FEE, D, priced

GPU = {
    "model": "volume",
    "tiers": [
        {"up_to": "100", "unit_amount": "2.40"},
        {"up_to": "1000", "unit_amount": "2.10"},
        {"up_to": None, "unit_amount": "1.80", "flat_amount": "50"},
    ],
}
CARD = {"model": "percentage", "rate": "2.9", "fixed_amount": "0.30", "free_events": 2}


def test_graduated_continues_in_the_tier_where_the_earlier_segment_stopped():
    # P(12500) - P(6000) = 25.5 - 10: 4000 x 0.002 in tier 1, then 2500 x 0.001 + 5 in tier 2
    result = priced(API_CALLS, "6500", carried_quantity=D("6000"))

    assert result.amount == D("15.5")
    assert result.breakdown == (
        TierRow(1, D(1000), D(10000), D(4000), D("0.002"), None, D(0), D(8)),
        TierRow(2, D(10000), None, D(2500), D("0.001"), None, D(5), D("7.5")),
    )


def test_graduated_does_not_charge_the_first_tier_flat_again():
    # P(50) - P(0) = 60 - 10
    assert priced(WITH_ENTRY_FEE, "50", carried_quantity=D("0")).amount == D("50")


def test_graduated_first_segment_charges_the_first_tier_flat():
    assert priced(WITH_ENTRY_FEE, "50").amount == D("60")


def test_graduated_continuation_with_no_new_units_costs_nothing():
    result = priced(WITH_ENTRY_FEE, "0", carried_quantity=D("40"))

    assert (result.amount, result.breakdown) == (D("0"), ())


def test_volume_continuation_is_the_difference_of_the_whole_period_prices():
    # P(120) - P(80) = 120 x 2.10 - 80 x 2.40 = 252 - 192
    assert priced(GPU, "40", carried_quantity=D("80")).amount == D("60")


def test_volume_continuation_can_credit_units_that_moved_to_a_cheaper_tier():
    # P(101) - P(100) = 212.1 - 240
    result = priced(GPU, "1", carried_quantity=D("100"))

    assert result.amount == D("-27.9")
    assert result.breakdown == (
        TierRow(1, D(100), D(1000), D(101), D("2.10"), None, D(0), D("212.1")),
        TierRow(0, D(0), D(100), D(100), D("2.40"), None, D(0), D("-240"), "carried"),
    )


def test_per_unit_does_not_grant_free_units_consumed_earlier():
    # 3 of the 5 free units were used: 13 - 5 = 8 billable
    assert priced(
        {"model": "per_unit", "unit_amount": "0.023", "free_units": "5"}, "10", carried_quantity=D("3")
    ).amount == D("0.184")


def test_package_continues_the_open_package():
    # ceil((150 - 10) / 100) - ceil((50 - 10) / 100) = 2 - 1 = 1 package
    egress = {"model": "package", "package_size": "100", "package_amount": "5.00", "free_units": "10"}

    assert priced(egress, "100", carried_quantity=D("50")).amount == D("5")


def test_percentage_does_not_grant_free_events_used_earlier():
    # one free event was used by the earlier segment: 100 free, then 0.30 + 2.90
    result = priced(CARD, "200", ["100", "100"], carried_events=[D("100")])

    assert result.amount == D("3.20")


def test_percentage_carried_quantity_must_match_the_carried_events():
    with pytest.raises(PricingError) as err:
        priced(CARD, "1", ["1"], carried_quantity=D("5"), carried_events=[D("2")])

    assert str(err.value) == "carried_quantity: must equal the sum of carried_events (2)"


def test_flat_is_not_charged_again_in_a_continuing_segment():
    result = priced({"model": "flat", "amount": "99.00"}, "0", carried_quantity=D("0"))

    assert (result.amount, result.breakdown) == (D("0"), (FlatRow(D("0"), charged=False),))


def test_a_negative_carried_quantity_is_refused():
    with pytest.raises(PricingError) as err:
        priced(API_CALLS, "1", carried_quantity=D("-1"))

    assert str(err.value) == "carried_quantity: must not be negative"


def test_price_segments_threads_the_carried_usage_through_versions():
    v1 = parse_price(API_CALLS)
    v2 = parse_price(
        {**API_CALLS, "tiers": [*API_CALLS["tiers"][:2], {"up_to": None, "unit_amount": "0.0005"}]}
    )

    results = price_segments([Segment(v1, D("6000")), Segment(v2, D("6500"))])

    # v1: P1(6000) = 5000 x 0.002 = 10 ; v2: P2(12500) - P2(6000) = (18 + 1.25) - 10 = 9.25
    assert [r.amount for r in results] == [D("10"), D("9.25")]


def test_price_segments_charges_a_flat_price_once_per_period():
    flat = parse_price({"model": "flat", "amount": "99.00"})

    results = price_segments([Segment(flat, D("0")), Segment(flat, D("0")), Segment(flat, D("0"))])

    assert [r.amount for r in results] == [D("99.00"), D("0"), D("0")]


def test_price_segments_carries_percentage_events():
    card = parse_price(CARD)

    results = price_segments(
        [Segment(card, D("100"), [D("100")]), Segment(card, D("200"), [D("100"), D("100")])]
    )

    assert [r.amount for r in results] == [D("0"), D("3.20")]


def test_a_first_segment_equals_pricing_without_carried_usage():
    assert (
        price(parse_price(API_CALLS), quantity=D("12500"))
        == price_segments([Segment(parse_price(API_CALLS), D("12500"))])[0]
    )
