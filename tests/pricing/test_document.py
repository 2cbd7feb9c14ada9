"""validate_document: the profile document (DESIGN "The profile document"), all errors at once."""

import copy
import json
from datetime import date
from decimal import Decimal

import pytest

from billing.pricing import (
    Commitment,
    Discount,
    DocumentError,
    GraduatedPrice,
    PerUnitPrice,
    PricingError,
    Tax,
    canonical_json,
    document_sha256,
    validate_document,
)

DESIGN_YAML = """
profile: acme-enterprise
currency: EUR
billing_cycle: monthly
grace_hours: 72
tax: {jurisdiction: DE, mode: exclusive}
prices:
  - sku: api_calls
    model: graduated
    tiers:
      - {up_to: 1000, unit_amount: "0", flat_amount: "0"}
      - {up_to: 10000, unit_amount: "0.002"}
      - {up_to: null, unit_amount: "0.001", flat_amount: "5"}
  - {sku: storage_gb_month, model: per_unit, unit_amount: "0.023", free_units: "5"}
  - {sku: egress_gb, model: package, package_size: "100", package_amount: "5.00", free_units: "0"}
  - sku: marketplace_sales
    model: percentage
    rate: "2.9"
    fixed_amount: "0.30"
    free_events: 10
    free_units: "500"
    min_per_event: "0.50"
    max_per_event: "25.00"
  - {sku: platform_fee, model: flat, amount: "99.00"}
commitments:
  minimum_spend: "1000.00"
discounts:
  - {code: launch20, percent: "20", skus: [api_calls], valid_from: 2026-01-01, valid_to: 2026-03-31,
     priority: 10, stackable: false}
"""
SKUS = {"api_calls", "storage_gb_month", "egress_gb", "marketplace_sales", "platform_fee"}


@pytest.fixture
def doc():
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load(DESIGN_YAML)


def errors_of(document, **kwargs):
    with pytest.raises(DocumentError) as err:
        validate_document(document, **kwargs)
    return str(err.value).splitlines()


def test_it_accepts_the_design_example_loaded_from_yaml(doc):
    parsed = validate_document(doc, known_skus=SKUS)

    assert (parsed.profile, parsed.currency, parsed.billing_cycle, parsed.grace_hours) == (
        "acme-enterprise",
        "EUR",
        "monthly",
        72,
    )
    assert list(parsed.prices) == [
        "api_calls",
        "storage_gb_month",
        "egress_gb",
        "marketplace_sales",
        "platform_fee",
    ]
    assert isinstance(parsed.prices["api_calls"], GraduatedPrice)
    assert parsed.prices["storage_gb_month"] == PerUnitPrice(
        Decimal("0.023"), Decimal("5"), sku="storage_gb_month"
    )
    assert parsed.tax == Tax("DE", "exclusive")
    assert parsed.commitments == Commitment(Decimal("1000.00"))
    assert parsed.discounts == (
        Discount(
            "launch20", Decimal("20"), None, ("api_calls",), date(2026, 1, 1), date(2026, 3, 31), 10, False
        ),
    )


def test_it_applies_the_defaults(doc):
    for key in ("grace_hours", "commitments", "discounts"):
        del doc[key]

    parsed = validate_document(doc)

    assert (parsed.grace_hours, parsed.backdating_days, parsed.required_tags) == (72, 35, ())
    assert (parsed.commitments, parsed.discounts) == (Commitment(None), ())


def test_it_reads_backdating_days_and_required_tags(doc):
    parsed = validate_document({**doc, "backdating_days": 70, "required_tags": ["project", "env"]})

    assert (parsed.backdating_days, parsed.required_tags) == (70, ("project", "env"))


def test_a_document_error_is_a_pricing_error():
    assert issubclass(DocumentError, PricingError)


def test_required_keys_are_named(doc):
    assert errors_of({"profile": "x", "currency": "EUR", "prices": doc["prices"]}) == [
        "billing_cycle: is required",
        "tax: is required",
    ]


def test_unknown_top_level_keys_are_refused(doc):
    assert errors_of({**doc, "currencies": ["EUR"]}) == ["currencies: unknown key"]


def test_a_non_object_is_refused():
    assert errors_of(["profile"]) == ["$: must be an object"]


def test_the_billing_cycle_is_an_enum(doc):
    assert errors_of({**doc, "billing_cycle": "weekly"}) == [
        "billing_cycle: must be one of: monthly, quarterly, yearly"
    ]


def test_grace_hours_must_be_a_non_negative_integer(doc):
    assert errors_of({**doc, "grace_hours": -1}) == ["grace_hours: must not be negative"]
    assert errors_of({**doc, "grace_hours": 72.0}) == ["grace_hours: must be an integer"]
    assert errors_of({**doc, "backdating_days": "35"}) == ["backdating_days: must be an integer"]


def test_required_tags_must_be_unique_strings(doc):
    assert errors_of({**doc, "required_tags": ["project", "project"]}) == [
        "required_tags: must not contain duplicates"
    ]
    assert errors_of({**doc, "required_tags": [""]}) == ["required_tags[0]: must not be empty"]


def test_the_currency_must_be_known_to_iso_4217(doc):
    assert errors_of({**doc, "currency": "ZZZ"}) == ["currency: 'ZZZ' is not an ISO 4217 currency code"]


def test_the_currency_must_have_a_minor_unit(doc):
    assert errors_of({**doc, "currency": "XAU"}) == [
        "currency: 'XAU' has no minor unit and cannot be invoiced"
    ]


def test_the_currency_must_look_like_a_code(doc):
    assert errors_of({**doc, "currency": "eur"}) == [
        "currency: must be an ISO 4217 currency code such as EUR"
    ]


def test_the_tax_mode_is_an_enum(doc):
    assert errors_of({**doc, "tax": {"jurisdiction": "DE", "mode": "net"}}) == [
        "tax.mode: must be one of: exclusive, inclusive"
    ]


def test_prices_must_not_be_empty(doc):
    assert errors_of({**doc, "prices": [], "discounts": []}) == ["prices: must not be empty"]


def test_every_price_needs_a_sku(doc):
    doc["prices"][1].pop("sku")

    assert errors_of(doc) == ["prices[1].sku: is required"]


def test_tier_errors_carry_the_price_index(doc):
    doc["prices"][0]["tiers"][1]["up_to"] = 500

    assert errors_of(doc) == ["prices[0].tiers[1].up_to: must be greater than 1000"]


def test_unknown_keys_of_a_model_are_refused(doc):
    doc["prices"][4]["unit_amount"] = "1"

    assert errors_of(doc) == ["prices[4].unit_amount: unknown key"]


def test_an_unknown_model_is_refused_once(doc):
    doc["prices"][4]["model"] = "subscription"

    assert errors_of(doc) == [
        "prices[4].model: must be one of: "
        "per_unit, graduated, graduated_percentage, volume, package, percentage, flat"
    ]


def test_float_amounts_are_refused(doc):
    doc["prices"][3]["rate"] = 2.9

    assert errors_of(doc) == ['prices[3].rate: must be a decimal string such as "2.9", not a float']


def test_min_per_event_above_max_is_refused(doc):
    doc["prices"][3]["min_per_event"] = "30"

    assert errors_of(doc) == ["prices[3].min_per_event: must not be greater than max_per_event (25)"]


def test_skus_must_be_known_when_a_catalog_is_given(doc):
    assert errors_of(doc, known_skus=SKUS - {"egress_gb"}) == ["prices[2].sku: unknown sku 'egress_gb'"]


def test_duplicate_skus_are_refused(doc):
    doc["prices"].append({"sku": "api_calls", "model": "flat", "amount": "1"})

    assert errors_of(doc) == ["prices[5].sku: duplicate sku 'api_calls' (also priced at prices[0])"]


@pytest.mark.parametrize("percent", ["0", "100.5", "-5"])
def test_a_discount_percent_must_be_in_0_exclusive_to_100(doc, percent):
    doc["discounts"][0]["percent"] = percent

    assert errors_of(doc) == ["discounts[0].percent: must be greater than 0 and at most 100"]


def test_a_discount_of_100_percent_is_allowed(doc):
    doc["discounts"][0]["percent"] = "100"

    assert validate_document(doc).discounts[0].percent == Decimal("100")


def test_a_discount_has_a_percent_or_an_amount_not_both(doc):
    doc["discounts"][0]["amount"] = "10.00"

    assert errors_of(doc) == ["discounts[0]: needs exactly one of percent or amount"]


def test_a_discount_needs_a_percent_or_an_amount(doc):
    del doc["discounts"][0]["percent"]

    assert errors_of(doc) == ["discounts[0]: needs exactly one of percent or amount"]


def test_a_fixed_discount_on_the_whole_invoice(doc):
    doc["discounts"] = [{"code": "welcome", "amount": "50.00"}]

    assert validate_document(doc).discounts == (
        Discount("welcome", None, Decimal("50.00"), None, None, None, 0, False),
    )


def test_a_fixed_discount_must_be_positive(doc):
    doc["discounts"] = [{"code": "welcome", "amount": "0"}]

    assert errors_of(doc) == ["discounts[0].amount: must be greater than 0"]


def test_discount_validity_must_not_end_before_it_starts(doc):
    doc["discounts"][0]["valid_to"] = date(2025, 12, 31)

    assert errors_of(doc) == ["discounts[0].valid_to: must not be before valid_from (2026-01-01)"]


def test_discount_dates_must_be_real_dates(doc):
    doc["discounts"][0]["valid_from"] = "2026-02-30"
    doc["discounts"][0]["valid_to"] = "31/03/2026"

    assert errors_of(doc) == [
        "discounts[0].valid_from: must be a real date (YYYY-MM-DD)",
        "discounts[0].valid_to: must be a date (YYYY-MM-DD)",
    ]


def test_discount_skus_must_be_priced_in_the_document(doc):
    doc["discounts"][0]["skus"] = ["api_calls", "gpu_hours"]

    assert errors_of(doc) == ["discounts[0].skus[1]: 'gpu_hours' is not priced in this document"]


def test_duplicate_discount_codes_are_refused(doc):
    doc["discounts"].append({**doc["discounts"][0], "priority": 1})

    assert errors_of(doc) == ["discounts[1].code: duplicate discount code 'launch20' (also discounts[0])"]


def test_discount_priority_and_stackable_are_typed(doc):
    doc["discounts"][0].update(priority="high", stackable="no")

    assert errors_of(doc) == [
        "discounts[0].priority: must be an integer",
        "discounts[0].stackable: must be true or false",
    ]


def test_the_minimum_spend_must_be_a_non_negative_amount(doc):
    doc["commitments"]["minimum_spend"] = "-1"

    assert errors_of(doc) == ["commitments.minimum_spend: must not be negative"]


def test_it_reports_every_error_at_once(doc):
    bad = copy.deepcopy(doc)
    bad["currency"] = "XAU"
    bad["grace_hours"] = -1
    bad["tax"]["jurisdiction"] = "germany"
    bad["prices"][0]["tiers"][1]["up_to"] = 500
    bad["prices"][2]["colour"] = "blue"
    bad["prices"][3]["min_per_event"] = "30"
    bad["discounts"][0]["skus"] = ["nope"]

    assert errors_of(bad, known_skus=SKUS - {"platform_fee"}) == [
        "currency: 'XAU' has no minor unit and cannot be invoiced",
        "discounts[0].skus[0]: 'nope' is not priced in this document",
        "grace_hours: must not be negative",
        "prices[0].tiers[1].up_to: must be greater than 1000",
        "prices[2].colour: unknown key",
        "prices[3].min_per_event: must not be greater than max_per_event (25)",
        "prices[4].sku: unknown sku 'platform_fee'",
        "tax.jurisdiction: must be an ISO 3166 country or subdivision code such as DE or US-CA",
    ]


def test_the_error_keeps_the_field_errors(doc):
    with pytest.raises(DocumentError) as err:
        validate_document({**doc, "currency": "ZZZ", "grace_hours": -1})

    assert [(e.path, e.message) for e in err.value.errors] == [
        ("currency", "'ZZZ' is not an ISO 4217 currency code"),
        ("grace_hours", "must not be negative"),
    ]


# -- canonical form and hash ------------------------------------------------------------------------


def test_canonical_json_sorts_keys_without_spaces_and_keeps_utf8():
    assert canonical_json({"b": 1, "a": {"é": "ü", "c": None}}) == '{"a":{"c":null,"é":"ü"},"b":1}'


def test_canonical_json_writes_dates_and_decimals_as_strings():
    assert canonical_json({"d": date(2026, 1, 1), "x": Decimal("0.10")}) == '{"d":"2026-01-01","x":"0.10"}'


def test_canonical_json_refuses_floats():
    with pytest.raises(TypeError, match="floats are not allowed"):
        canonical_json({"rate": 2.9})


def test_the_hash_ignores_key_order_and_yaml_dates(doc):
    reordered = dict(reversed(list(json.loads(canonical_json(doc)).items())))

    assert document_sha256(doc) == document_sha256(reordered)


def test_the_hash_is_sha256_of_the_canonical_utf8_text():
    import hashlib

    assert document_sha256({"a": "é"}) == hashlib.sha256('{"a":"é"}'.encode()).hexdigest()


def test_the_hash_changes_with_any_value(doc):
    changed = copy.deepcopy(doc)
    changed["prices"][1]["unit_amount"] = "0.024"

    assert document_sha256(doc) != document_sha256(changed)


def test_a_boolean_up_to_is_refused_once(doc):
    doc["prices"][0]["tiers"][0]["up_to"] = True

    assert errors_of(doc) == ["prices[0].tiers[0].up_to: must be a decimal string or null"]


def test_an_integral_float_grace_period_is_still_a_float(doc):
    assert errors_of({**doc, "backdating_days": 35.0}) == ["backdating_days: must be an integer"]
