"""quote / error_payload: the JSON face of the engine (DESIGN "Quotes")."""

import json
from decimal import Decimal

import pytest

from billing.pricing import PricingError, error_payload, format_decimal, quote
from tests.pricing.helpers import GRADUATED_QUOTE as GRADUATED

CARD = {"model": "percentage", "rate": "2.9", "fixed_amount": "0.30", "min_per_event": "0.50"}


def errors_of(payload):
    with pytest.raises(PricingError) as err:
        quote(payload)
    return [(e.path, e.message) for e in err.value.errors]


def test_it_quotes_the_design_example():
    result = quote(GRADUATED)

    assert (result["amount"], result["amount_rounded"], result["currency"]) == ("25.5", "25.50", "EUR")


def test_the_breakdown_is_json_with_decimals_as_strings():
    result = quote(GRADUATED)

    assert json.loads(json.dumps(result))["breakdown"][2] == {
        "kind": "tier",
        "tier": 2,
        "lower": "10000",
        "up_to": None,
        "units": "2500",
        "unit_amount": "0.001",
        "flat_amount": "5",
        "amount": "7.5",
    }


def test_it_rounds_to_the_currency_half_up():
    # 0.5 JPY -> 1 ; 1.2345 KWD -> 1.235 ; 2.345 EUR -> 2.35
    per_unit = {"model": "per_unit", "unit_amount": "0.5"}
    assert quote({"price": per_unit, "quantity": "1", "currency": "JPY"})["amount_rounded"] == "1"
    per_unit = {"model": "per_unit", "unit_amount": "1.2345"}
    assert quote({"price": per_unit, "quantity": "1", "currency": "KWD"})["amount_rounded"] == "1.235"
    per_unit = {"model": "per_unit", "unit_amount": "2.345"}
    assert quote({"price": per_unit, "quantity": "1", "currency": "EUR"})["amount_rounded"] == "2.35"


def test_the_rounded_amount_keeps_the_minor_unit_digits():
    result = quote({"price": {"model": "flat", "amount": "99"}, "quantity": "0", "currency": "KWD"})

    assert (result["amount"], result["amount_rounded"]) == ("99", "99.000")


def test_percentage_quantity_defaults_to_the_sum_of_the_events():
    result = quote({"price": CARD, "events": ["100", "5", "0"], "currency": "EUR"})

    # 3.20 + 0.50 (clamped) + 0
    assert (result["amount"], result["amount_rounded"]) == ("3.7", "3.70")


def test_percentage_quantity_when_given_must_equal_the_sum():
    assert errors_of({"price": CARD, "quantity": "50", "events": ["100"], "currency": "EUR"}) == [
        ("quantity", "must equal the sum of events (100)")
    ]


def test_percentage_needs_events():
    assert errors_of({"price": CARD, "quantity": "100", "currency": "EUR"}) == [
        ("events", "is required for the percentage model")
    ]


def test_events_are_ignored_by_other_models():
    result = quote({**GRADUATED, "events": ["1", "2"]})

    assert result["amount"] == "25.5"


def test_a_sku_in_the_price_is_accepted():
    result = quote({**GRADUATED, "price": {**GRADUATED["price"], "sku": "api_calls"}})

    assert result["amount"] == "25.5"


def test_it_accepts_exact_json_numbers():
    payload = json.loads(
        '{"price": {"model": "per_unit", "unit_amount": 0.1}, "quantity": 3, "currency": "EUR"}',
        parse_float=Decimal,
    )

    assert quote(payload)["amount"] == "0.3"


def test_a_continuing_segment_can_be_quoted():
    result = quote({**GRADUATED, "quantity": "6500", "carried_quantity": "6000"})

    assert result["amount"] == "15.5"


def test_a_bad_tier_is_named_with_the_price_prefix():
    payload = json.loads(json.dumps(GRADUATED))
    payload["price"]["tiers"][1]["up_to"] = "500"

    assert errors_of(payload) == [("price.tiers[1].up_to", "must be greater than 1000")]


def test_a_bad_event_is_named_by_index():
    assert errors_of({"price": CARD, "events": ["1", "2", "3", "x"], "currency": "EUR"}) == [
        ("events[3]", "must be a decimal number such as \"12.50\" (got 'x')")
    ]


def test_a_float_quantity_is_refused():
    assert errors_of({**GRADUATED, "quantity": 12.5}) == [
        ("quantity", 'must be a decimal string such as "12.5", not a float')
    ]


def test_a_negative_quantity_is_refused():
    assert errors_of({**GRADUATED, "quantity": "-1"}) == [("quantity", "must not be negative")]


def test_an_unknown_currency_is_refused():
    assert errors_of({**GRADUATED, "currency": "XXX1"}) == [
        ("currency", "'XXX1' is not an ISO 4217 currency code")
    ]


def test_missing_fields_are_each_named():
    assert errors_of({}) == [("currency", "is required"), ("price", "is required")]


def test_quantity_is_required_for_other_models():
    assert errors_of({"price": GRADUATED["price"], "currency": "EUR"}) == [("quantity", "is required")]


def test_unknown_keys_are_refused():
    assert errors_of({**GRADUATED, "qty": "1"}) == [("qty", "unknown key")]


def test_events_must_be_a_list():
    assert errors_of({"price": CARD, "events": "100", "currency": "EUR"}) == [("events", "must be a list")]


def test_a_non_object_payload_is_refused():
    assert errors_of(["price"]) == [("$", "must be an object")]


def test_every_error_is_reported_at_once():
    payload = {
        "price": {"model": "per_unit", "unit_amount": "x", "colour": "red"},
        "quantity": "NaN",
        "currency": "eur",
    }

    assert errors_of(payload) == [
        ("currency", "'eur' is not an ISO 4217 currency code"),
        ("price.colour", "unknown key"),
        ("price.unit_amount", "must be a decimal number such as \"12.50\" (got 'x')"),
        ("quantity", "must be a decimal number such as \"12.50\" (got 'NaN')"),
    ]


def test_error_payload_lists_field_and_message():
    with pytest.raises(PricingError) as err:
        quote({**GRADUATED, "currency": "ZZZ"})

    assert error_payload(err.value) == {
        "error": "invalid",
        "message": "currency: 'ZZZ' is not an ISO 4217 currency code",
        "errors": [{"field": "currency", "message": "'ZZZ' is not an ISO 4217 currency code"}],
    }


def test_error_payload_says_how_many_more_errors_there_are():
    with pytest.raises(PricingError) as err:
        quote({**GRADUATED, "currency": "ZZZ", "quantity": "x"})
    message = error_payload(err.value)["message"]

    assert message == "currency: 'ZZZ' is not an ISO 4217 currency code (and 1 more)"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("1E+3", "1000"),
        ("2.500", "2.5"),
        ("-0.0", "0"),
        ("0E-10", "0"),
        ("0.00014", "0.00014"),
        ("1E-7", "0.0000001"),
        ("-27.90", "-27.9"),
        ("123456789012345678901234567890.123456789", "123456789012345678901234567890.123456789"),
    ],
)
def test_exact_amounts_are_written_plainly_without_trailing_zeros(value, text):
    assert format_decimal(Decimal(value)) == text
