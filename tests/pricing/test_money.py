"""common.money: ISO 4217 exponents, the one rounding helper, and parsing text into Decimal."""

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal, localcontext

import pytest

from common.money import (
    InvalidDecimal,
    UnknownCurrency,
    currency_exponent,
    is_known_currency,
    parse_decimal,
    quantize_money,
)


@pytest.mark.parametrize(("code", "exponent"), [("EUR", 2), ("USD", 2), ("JPY", 0), ("KWD", 3), ("BHD", 3)])
def test_it_reads_the_minor_unit_from_iso_4217(code, exponent):
    assert currency_exponent(code) == exponent


@pytest.mark.parametrize("code", ["ZZZ", "eur", "EUR ", "", "EURO"])
def test_it_refuses_unknown_currency_codes(code):
    with pytest.raises(UnknownCurrency, match="is not an ISO 4217 currency code"):
        currency_exponent(code)


def test_it_refuses_currencies_without_a_minor_unit():
    with pytest.raises(UnknownCurrency, match="'XAU' has no minor unit"):
        currency_exponent("XAU")


def test_unknown_currency_is_a_value_error():
    assert issubclass(UnknownCurrency, ValueError)


def test_it_tells_known_from_unknown_currencies():
    assert (is_known_currency("EUR"), is_known_currency("XAU"), is_known_currency("ABC")) == (
        True,
        False,
        False,
    )


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("2.345", "EUR", "2.35"),
        ("2.344999", "EUR", "2.34"),
        ("0.005", "EUR", "0.01"),
        ("0.5", "JPY", "1"),
        ("1.5", "JPY", "2"),
        ("2.5", "JPY", "3"),
        ("1.2345", "KWD", "1.235"),
        ("1.2344", "KWD", "1.234"),
        ("-2.345", "EUR", "-2.35"),
        ("25.5", "EUR", "25.50"),
        ("1000000000000.005", "EUR", "1000000000000.01"),
    ],
)
def test_it_rounds_half_up_to_the_minor_unit(amount, currency, expected):
    result = quantize_money(Decimal(amount), currency)

    assert str(result) == expected


def test_it_never_returns_a_negative_zero():
    assert str(quantize_money(Decimal("-0.001"), "EUR")) == "0.00"


def test_it_rounds_with_the_mode_passed_in():
    assert str(quantize_money(Decimal("2.345"), "EUR", rounding=ROUND_HALF_EVEN)) == "2.34"


def test_it_ignores_the_ambient_decimal_context():
    with localcontext() as ctx:
        ctx.rounding = ROUND_DOWN
        ctx.prec = 3
        result = quantize_money(Decimal("123456789012345678901234567890.125"), "EUR")

    assert str(result) == "123456789012345678901234567890.13"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("12.50", "12.50"),
        ("0", "0"),
        ("-3.2", "-3.2"),
        (7, "7"),
        (Decimal("0.1"), "0.1"),
        (Decimal("1E+3"), "1E+3"),
    ],
)
def test_it_parses_strings_ints_and_decimals_exactly(value, expected):
    assert str(parse_decimal(value, field="x")) == expected


def test_it_refuses_floats_naming_the_field():
    with pytest.raises(InvalidDecimal) as err:
        parse_decimal(0.1, field="prices[0].unit_amount")

    assert str(err.value) == 'prices[0].unit_amount: must be a decimal string such as "0.1", not a float'
    assert (err.value.field, err.value.message) == (
        "prices[0].unit_amount",
        'must be a decimal string such as "0.1", not a float',
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "must not be empty"),
        ("abc", "must be a decimal number such as \"12.50\" (got 'abc')"),
        ("NaN", "must be a decimal number such as \"12.50\" (got 'NaN')"),
        ("Infinity", "must be a decimal number such as \"12.50\" (got 'Infinity')"),
        ("1e3", "must be a decimal number such as \"12.50\" (got '1e3')"),
        (" 1", "must be a decimal number such as \"12.50\" (got ' 1')"),
        ("1_000", "must be a decimal number such as \"12.50\" (got '1_000')"),
        ("١٢", "must be a decimal number such as \"12.50\" (got '١٢')"),
        (Decimal("NaN"), "must be a finite decimal number (got NaN)"),
        (Decimal("-Infinity"), "must be a finite decimal number (got -Infinity)"),
        (True, "must be a decimal string, not a boolean"),
        (None, "must be a decimal string (got NoneType)"),
        ([1], "must be a decimal string (got list)"),
        ("1." + "0" * 31, "must have at most 30 digits after the decimal point"),
        ("1" * 31, "must have at most 30 digits before the decimal point"),
    ],
)
def test_it_refuses_what_is_not_a_plain_finite_decimal(value, message):
    with pytest.raises(InvalidDecimal) as err:
        parse_decimal(value, field="quantity")

    assert err.value.message == message
    assert str(err.value) == f"quantity: {message}"
