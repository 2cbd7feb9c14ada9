"""percentage: per event, in the given order, free allowances, clamping, zero-quantity events."""

import pytest

from billing.pricing import EventRow, PricingError, parse_price, price
from tests.pricing.helpers import D, amount, priced

CARD = {
    "model": "percentage",
    "rate": "2.9",
    "fixed_amount": "0.30",
    "min_per_event": "0.50",
    "max_per_event": "25.00",
}


def card(**extra):
    return {**CARD, **extra}


def test_it_charges_rate_plus_fixed_per_event():
    # 0.30 + 2.9% x 100 = 3.20
    assert amount(CARD, "100", ["100"]) == D("3.2")


def test_it_sums_the_events():
    # 3.20 + (0.30 + 2.9% x 40 = 1.46)
    assert amount(CARD, "140", ["100", "40"]) == D("4.66")


def test_it_clamps_a_small_event_up_to_the_minimum():
    # 0.30 + 2.9% x 5 = 0.445 < 0.50
    assert amount(CARD, "5", ["5"]) == D("0.50")


def test_it_clamps_a_large_event_down_to_the_maximum():
    # 0.30 + 2.9% x 1000 = 29.30 > 25.00
    assert amount(CARD, "1000", ["1000"]) == D("25.00")


def test_an_event_of_quantity_zero_pays_nothing_not_even_the_minimum():
    assert amount(CARD, "0", ["0"]) == 0


def test_without_clamps_and_fixed_amount_it_is_a_plain_percentage():
    assert amount({"model": "percentage", "rate": "3.5"}, "12.34", ["12.34"]) == D("0.4319")


def test_free_units_cover_whole_events_then_the_crossing_event_pays_above_the_allowance():
    # 300 free (200 left); 300 crosses: 0.30 + 2.9% x 100 = 3.20; 100 pays in full: 3.20
    assert amount(card(free_units="500"), "700", ["300", "300", "100"]) == D("6.40")


def test_free_events_ending_first_end_the_free_part():
    # two free events (800 free units still left); the third pays in full: 0.30 + 2.90
    assert amount(card(free_events=2, free_units="1000"), "300", ["100", "100", "100"]) == D("3.20")


def test_free_units_ending_first_end_the_free_part_despite_free_events_left():
    # 100 free (50 left); 100 crosses: 0.30 + 2.9% x 50 = 1.75; 100 in full: 3.20
    assert amount(card(free_events=5, free_units="150"), "300", ["100", "100", "100"]) == D("4.95")


def test_a_crossing_event_is_clamped_to_the_minimum():
    # 101 - 100 free = 1 unit: 0.30 + 0.029 = 0.329 < 0.50
    assert amount(card(free_units="100"), "101", ["101"]) == D("0.50")


def test_a_crossing_event_is_clamped_to_the_maximum():
    # 2000 - 100 free = 1900: 0.30 + 55.10 > 25
    assert amount(card(free_units="100"), "2000", ["2000"]) == D("25.00")


def test_a_fully_free_event_pays_nothing_not_even_the_minimum():
    assert amount(card(free_events=1), "10", ["10"]) == 0


def test_the_first_n_events_are_free_in_the_order_given():
    # events 1-2 free; 0.30 + 2.9% x 10 = 0.59
    assert amount(card(free_events=2), "1010", ["500", "500", "10"]) == D("0.59")
    # in another order: the small one is free, each 500 pays 0.30 + 2.9% x 500 = 14.80
    assert amount(card(free_events=1), "1010", ["10", "500", "500"]) == D("29.60")


def test_zero_quantity_events_count_against_free_events():
    # the 0 takes the only free event; the 100 pays 3.20
    assert amount(card(free_events=1), "100", ["0", "100"]) == D("3.20")


def test_a_zero_free_units_allowance_means_no_free_part():
    assert amount(card(free_events=3, free_units="0"), "100", ["100"]) == D("3.20")


def test_an_event_ending_exactly_on_the_free_units_is_free_and_the_next_pays_in_full():
    assert amount(card(free_units="100"), "110", ["100", "10"]) == D("0.59")


def test_events_of_one_hundredth():
    # 0.30 + 2.9% x 0.01 = 0.30029, clamped to 0.50
    assert amount(card(), "0.01", ["0.01"]) == D("0.50")


def test_a_huge_event_is_clamped():
    assert amount(card(), 10**12, [str(10**12)]) == D("25.00")


def test_the_breakdown_has_one_row_per_event():
    result = priced(card(free_units="500"), "705", ["300", "0", "300", "100", "5"])

    assert result.breakdown == (
        EventRow(0, D(300), "free", D(300), D(0), D(0), None, D(0)),
        EventRow(1, D(0), "zero", D(0), D(0), D(0), None, D(0)),
        EventRow(2, D(300), "partly_free", D(200), D(100), D("3.200"), None, D("3.200")),
        EventRow(3, D(100), "charged", D(0), D(100), D("3.200"), None, D("3.200")),
        EventRow(4, D(5), "charged", D(0), D(5), D("0.445"), "min", D("0.50")),
    )


def test_events_are_required():
    with pytest.raises(PricingError) as err:
        price(parse_price(CARD), quantity=D("100"))

    assert str(err.value) == "events: is required for the percentage model"


def test_quantity_must_equal_the_sum_of_the_events():
    with pytest.raises(PricingError) as err:
        price(parse_price(CARD), quantity=D("100"), events=[D("60"), D("30")])

    assert str(err.value) == "quantity: must equal the sum of events (90)"


def test_a_negative_event_is_refused_by_index():
    with pytest.raises(PricingError) as err:
        price(parse_price(CARD), quantity=D("0"), events=[D("1"), D("-1")])

    assert str(err.value) == "events[1]: must not be negative"
