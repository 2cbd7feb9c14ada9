"""graduated, graduated_percentage and volume: worked examples, tier boundaries, breakdowns."""

from billing.pricing import TierRow
from tests.pricing.helpers import API_CALLS, WITH_ENTRY_FEE, D, amount, priced

PAYMENTS = {
    "model": "graduated_percentage",
    "tiers": [{"up_to": "10000", "rate": "1.4", "flat_amount": "0"}, {"up_to": None, "rate": "1.1"}],
}
PERCENT_WITH_FLATS = {
    "model": "graduated_percentage",
    "tiers": [
        {"up_to": "1000", "rate": "2", "flat_amount": "1"},
        {"up_to": None, "rate": "1", "flat_amount": "3"},
    ],
}
GPU = {
    "model": "volume",
    "tiers": [
        {"up_to": "100", "unit_amount": "2.40"},
        {"up_to": "1000", "unit_amount": "2.10"},
        {"up_to": None, "unit_amount": "1.80", "flat_amount": "50"},
    ],
}
VOLUME_WITH_BASE = {
    "model": "volume",
    "tiers": [{"up_to": "10", "unit_amount": "1", "flat_amount": "7"}, {"up_to": None, "unit_amount": "0.5"}],
}


# -- graduated --------------------------------------------------------------------------------------


def test_graduated_fills_tier_after_tier():
    # 1000 x 0 + 9000 x 0.002 + 2500 x 0.001 + 5 = 0 + 18 + 2.5 + 5
    assert amount(API_CALLS, "12500") == D("25.5")


def test_graduated_exactly_on_an_up_to_stays_in_that_tier():
    # 10000 does not exceed 10000: the last tier (and its flat 5) is not reached
    assert amount(API_CALLS, "10000") == D("18")


def test_graduated_one_unit_past_an_up_to_reaches_the_next_tier_and_its_flat():
    # 18 + 1 x 0.001 + 5
    assert amount(API_CALLS, "10001") == D("23.001")


def test_graduated_exactly_on_the_first_up_to():
    assert (amount(API_CALLS, "1000"), amount(API_CALLS, "1001")) == (D("0"), D("0.002"))


def test_graduated_charges_the_first_tier_flat_at_quantity_zero():
    assert amount(WITH_ENTRY_FEE, "0") == D("10")


def test_graduated_at_one_hundredth_of_a_unit():
    # 0.01 x 1 + 10
    assert amount(WITH_ENTRY_FEE, "0.01") == D("10.01")


def test_graduated_with_an_entry_fee_across_two_tiers():
    # 100 x 1 + 10 + 50 x 0.5
    assert amount(WITH_ENTRY_FEE, "150") == D("135")


def test_graduated_at_10_to_the_12():
    # 18 + (10^12 - 10000) x 0.001 + 5 = 18 + 999,999,990 + 5
    assert amount(API_CALLS, 10**12) == D("1000000013")


def test_graduated_breakdown_has_one_row_per_reached_tier():
    result = priced(API_CALLS, "12500")

    assert result.breakdown == (
        TierRow(0, D(0), D(1000), D(1000), D(0), None, D(0), D(0)),
        TierRow(1, D(1000), D(10000), D(9000), D("0.002"), None, D(0), D(18)),
        TierRow(2, D(10000), None, D(2500), D("0.001"), None, D(5), D("7.5")),
    )


def test_graduated_breakdown_at_zero_is_the_first_tier_flat():
    result = priced(WITH_ENTRY_FEE, "0")

    assert result.breakdown == (TierRow(0, D(0), D(100), D(0), D(1), None, D(10), D(10)),)


# -- graduated_percentage ---------------------------------------------------------------------------


def test_graduated_percentage_inside_the_first_tier():
    # 5000 x 1.4% = 70
    assert amount(PAYMENTS, "5000") == D("70")


def test_graduated_percentage_across_tiers():
    # 10000 x 1.4% + 2000 x 1.1% = 140 + 22
    assert amount(PAYMENTS, "12000") == D("162")


def test_graduated_percentage_charges_the_flats_of_reached_tiers():
    # 1000 x 2% + 1 + 500 x 1% + 3 = 20 + 1 + 5 + 3
    assert amount(PERCENT_WITH_FLATS, "1500") == D("29")


def test_graduated_percentage_exactly_on_the_up_to():
    assert amount(PERCENT_WITH_FLATS, "1000") == D("21")


def test_graduated_percentage_at_zero_charges_the_first_flat():
    assert amount(PERCENT_WITH_FLATS, "0") == D("1")


def test_graduated_percentage_at_one_hundredth():
    # 0.01 x 1.4% = 0.00014, never rounded inside the engine
    assert amount(PAYMENTS, "0.01") == D("0.00014")


def test_graduated_percentage_breakdown_shows_rates():
    result = priced(PAYMENTS, "12000")

    assert [row.as_dict() for row in result.breakdown] == [
        {
            "kind": "tier",
            "tier": 0,
            "lower": "0",
            "up_to": "10000",
            "units": "10000",
            "rate": "1.4",
            "flat_amount": "0",
            "amount": "140",
        },
        {
            "kind": "tier",
            "tier": 1,
            "lower": "10000",
            "up_to": None,
            "units": "2000",
            "rate": "1.1",
            "flat_amount": "0",
            "amount": "22",
        },
    ]


# -- volume -----------------------------------------------------------------------------------------


def test_volume_exactly_on_an_up_to_uses_that_tier_for_all_units():
    # 100 x 2.40
    assert amount(GPU, "100") == D("240")


def test_volume_one_unit_past_an_up_to_reprices_all_units():
    # 101 x 2.10
    assert amount(GPU, "101") == D("212.1")


def test_volume_in_the_open_tier_adds_its_flat():
    # 1500 x 1.80 + 50
    assert amount(GPU, "1500") == D("2750")


def test_volume_on_the_last_up_to_and_just_past_it():
    # 1000 x 2.10 ; 1001 x 1.80 + 50
    assert (amount(GPU, "1000"), amount(GPU, "1001")) == (D("2100"), D("1851.8"))


def test_volume_at_zero_charges_the_first_tier_flat():
    assert (amount(VOLUME_WITH_BASE, "0"), amount(GPU, "0")) == (D("7"), D("0"))


def test_volume_at_one_hundredth():
    assert amount(VOLUME_WITH_BASE, "0.01") == D("7.01")


def test_volume_at_10_to_the_12():
    assert amount(GPU, 10**12) == D("1800000000050")


def test_volume_breakdown_is_the_chosen_tier():
    result = priced(GPU, "101")

    assert result.breakdown == (TierRow(1, D(100), D(1000), D(101), D("2.10"), None, D(0), D("212.1")),)
