"""Money, quantities, rates and dates as Babel lays them out per locale, rounded half up first."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from common.money_format import (
    format_date,
    format_money,
    format_percent,
    format_quantity,
    format_unit_price,
    known_locale,
    resolve_locale,
)

NBSP = "\xa0"


@pytest.mark.parametrize(
    ("amount", "currency", "locale", "shown"),
    [
        ("1234.5", "EUR", "en", "€1,234.50"),
        ("1234.5", "EUR", "de_DE", f"1.234,50{NBSP}€"),
        ("1234.5", "EUR", "de-DE", f"1.234,50{NBSP}€"),
        ("1234.5", "EUR", "en_US", "€1,234.50"),
        ("1234.5", "USD", "en_US", "$1,234.50"),
        ("17500", "JPY", "ja_JP", "￥17,500"),  # CLDR: the full-width yen sign in Japanese
        ("17500", "JPY", "en", "JP¥17,500"),  # international English (en_001) names the yen
        ("1.2345", "KWD", "en", "KWD1.235"),
        ("-3.84", "EUR", "de_DE", f"-3,84{NBSP}€"),
        ("-3.84", "EUR", "en", "-€3.84"),
        ("0", "EUR", "en", "€0.00"),
    ],
)
def test_it_formats_money_per_currency_and_locale(amount, currency, locale, shown):
    assert format_money(Decimal(amount), currency, locale) == shown


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        ("0.125", "EUR", "€0.13"),  # half up; Babel alone would round half-even to 0.12
        ("0.135", "EUR", "€0.14"),
        ("2.5", "JPY", "JP¥3"),
        ("1.0005", "KWD", "KWD1.001"),
        ("-0.001", "EUR", "€0.00"),  # never a negative zero
    ],
)
def test_it_rounds_half_up_before_babel_sees_the_amount(amount, currency, shown):
    assert format_money(Decimal(amount), currency, "en") == shown


@pytest.mark.parametrize("locale", ["xx_YY", "!!", "", None, "a" * 100, "de_DE@euro;x"])
def test_an_unknown_or_malformed_locale_falls_back_to_english(locale):
    assert format_money(Decimal("1234.5"), "EUR", locale) in {"€1,234.50", f"1.234,50{NBSP}€"}
    assert format_money(Decimal("1234.5"), "EUR", "xx_YY") == "€1,234.50"
    assert format_date(date(2026, 10, 1), locale) in {"1 Oct 2026", "01.10.2026"}


def test_locales_are_parsed_once():
    assert resolve_locale("de_DE") is resolve_locale("de_DE")


@pytest.mark.parametrize(
    ("amount", "currency", "locale", "shown"),
    [
        ("0.002", "EUR", "en", "€0.002"),
        ("0.1000", "EUR", "de_DE", f"0,10{NBSP}€"),
        ("0", "EUR", "en", "€0.00"),
        ("33.33333333333", "EUR", "en", "€33.333333"),  # currency digits + 4, half up
        ("0.5", "JPY", "ja_JP", "￥0.5"),
    ],
)
def test_unit_prices_keep_their_digits(amount, currency, locale, shown):
    assert format_unit_price(Decimal(amount), currency, locale) == shown


@pytest.mark.parametrize(
    ("value", "locale", "shown"),
    [
        ("1000.000000000000", "en", "1,000"),
        ("1E+3", "en", "1,000"),
        ("1000.5", "de_DE", "1.000,5"),
        ("0E-12", "en", "0"),
        ("-200", "en", "-200"),
        ("0.000000000001", "en", "0.000000000001"),
    ],
)
def test_quantities_are_grouped_and_never_in_exponent_form(value, locale, shown):
    assert format_quantity(Decimal(value), locale) == shown


@pytest.mark.parametrize(
    ("rate", "locale", "shown"),
    [("19.0000", "en", "19%"), ("7.5", "de_DE", f"7,5{NBSP}%"), ("0", "en", "0%"), ("2.9", "ja_JP", "2.9%")],
)
def test_rates_are_printed_as_percentages(rate, locale, shown):
    assert format_percent(Decimal(rate), locale) == shown


@pytest.mark.parametrize(
    ("locale", "shown"),
    [("en", "1 Oct 2026"), ("en_US", "Oct 1, 2026"), ("de_DE", "01.10.2026"), ("ja_JP", "2026/10/01")],
)
def test_dates_use_the_locales_medium_form(locale, shown):
    assert format_date(date(2026, 10, 1), locale) == shown


@pytest.mark.parametrize(
    ("tag", "known"),
    [
        ("de-de", "de_DE"),
        ("en-US", "en_US"),
        ("fr", "fr"),
        ("zz", None),
        ("*", None),
        ("", None),
        (None, None),
    ],
)
def test_known_locale_names_what_babel_has_data_for(tag, known):
    assert known_locale(tag) == known


@pytest.mark.parametrize(
    ("first", "second"), [("1.50", "1.5"), ("1000", "1E+3"), ("-0", "0"), ("0.10", "0.1000")]
)
def test_memoized_figures_print_equal_numbers_alike_whichever_came_first(first, second):
    # the formatters are memoized by value, and equal Decimals share a cache slot: the output must
    # not depend on which spelling was formatted first
    for a, b in ((first, second), (second, first)):
        format_quantity.cache_clear()
        format_money.cache_clear()
        shown = (format_quantity(Decimal(a), "de_DE"), format_money(Decimal(a), "EUR", "de_DE"))
        format_quantity.cache_clear()
        format_money.cache_clear()
        again = (format_quantity(Decimal(b), "de_DE"), format_money(Decimal(b), "EUR", "de_DE"))

        assert shown == again
