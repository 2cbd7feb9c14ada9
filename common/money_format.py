"""Money, quantities and dates as a reader of a document expects them in their locale (Babel, CLDR data).

One road for every displayed amount: `format_money` rounds with `quantize_money` (ROUND_HALF_UP, the
currency's ISO 4217 minor unit) first and then lets Babel only lay the digits out, with exactly that many
fraction digits, so Babel never rounds (it would round half-even, and CLDR's digits differ from ISO 4217
for a few currencies, e.g. IQD). Stored values are never touched: these functions return text.

Locales are the tenant's `locale` ("en", "de_DE", "ja_JP", "de-DE"): anything Babel does not know falls
back to English, never an error. Bare "en" is CLDR's international English (en_001): `€1,234.50` and
`1 Oct 2026`; "en_US" gives US dates (`Oct 1, 2026`).

Pure: imports no Django.
"""

from __future__ import annotations

import copy
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.dates import format_date as _babel_format_date
from babel.numbers import NumberPattern, parse_pattern

from common.money import currency_exponent, quantize_money

__all__ = [
    "DEFAULT_LOCALE",
    "DocumentFormat",
    "format_date",
    "format_money",
    "format_percent",
    "format_quantity",
    "format_unit_price",
    "known_locale",
    "resolve_locale",
]

DEFAULT_LOCALE = "en"
# What a bare language tag means where CLDR's root form of the language is regional (en = en_US).
_LANGUAGE_DEFAULTS = {"en": "en_001"}
# Unit prices carry more digits than the minor unit (0.002 EUR per call); this bounds an effective
# price (amount / quantity) that does not divide evenly.
UNIT_PRICE_EXTRA_DIGITS = 4


@lru_cache(maxsize=256)
def known_locale(tag: str | None) -> str | None:
    """`tag` as Babel spells it ("de-de" -> "de_DE") when Babel has data for it, else None (the caller
    decides what to fall back to; `resolve_locale` falls back to English)."""
    text = (tag or "").strip().replace("-", "_")
    if not text or len(text) > 32:
        return None
    try:
        return str(Locale.parse(text))
    except (UnknownLocaleError, ValueError, TypeError):
        return None


@lru_cache(maxsize=256)
def resolve_locale(tag: str | None) -> Locale:
    """The Babel Locale for `tag` ("de_DE", "de-DE", "ja"), English for anything unknown or malformed.
    Cached: parsing a locale loads its CLDR data, far slower than formatting a number."""
    text = (tag or "").strip().replace("-", "_")
    text = _LANGUAGE_DEFAULTS.get(text, text)
    try:
        return Locale.parse(text or _LANGUAGE_DEFAULTS[DEFAULT_LOCALE])
    except (UnknownLocaleError, ValueError, TypeError):
        return Locale.parse(_LANGUAGE_DEFAULTS[DEFAULT_LOCALE])


@lru_cache(maxsize=512)
def _currency_pattern(locale: Locale, min_digits: int, max_digits: int) -> NumberPattern:
    pattern = locale.currency_formats["standard"]
    fixed: NumberPattern = copy.copy(pattern)
    fixed.frac_prec = (min_digits, max_digits)
    return fixed


@lru_cache(maxsize=512)
def _decimal_pattern(locale: Locale, max_digits: int) -> NumberPattern:
    fixed = copy.copy(locale.decimal_formats.get(None) or parse_pattern("#,##0.###"))
    fixed.frac_prec = (0, max_digits)
    return fixed


@lru_cache(maxsize=512)
def _percent_pattern(locale: Locale, max_digits: int) -> NumberPattern:
    fixed = copy.copy(locale.percent_formats.get(None) or parse_pattern("#,##0%"))
    fixed.frac_prec = (0, max_digits)
    return fixed


def _fraction_digits(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


# The formatters below are pure functions of the value's number (each normalizes or quantizes first, so
# equal Decimals such as 1.0 and 1.00 print alike), so their results are memoized per process: a page
# shown again (an invoice, a usage chart of 13 months: ~3,000 figures) formats from memory, Babel's
# pattern.apply (~0.1 ms a figure) runs once per distinct figure.
_MEMO = 65536


@lru_cache(maxsize=_MEMO)
def format_money(amount: Decimal, currency: str, locale: str | None) -> str:
    """`Decimal("1234.5")`, EUR: en `€1,234.50`, de_DE `1.234,50 €` (no-break space); JPY ja_JP
    `￥17,500`; KWD `KWD1.235`. Rounded half up to the currency's minor unit first."""
    exponent = currency_exponent(currency)
    rounded = quantize_money(amount, currency, rounding=ROUND_HALF_UP)
    pattern = _currency_pattern(resolve_locale(locale), exponent, exponent)
    return str(pattern.apply(rounded, resolve_locale(locale), currency=currency, currency_digits=False))


@lru_cache(maxsize=_MEMO)
def format_unit_price(amount: Decimal, currency: str, locale: str | None) -> str:
    """A price per unit: at least the currency's digits, more when the price has them (`€0.002`,
    `€0.10`); a value with more than `exponent + UNIT_PRICE_EXTRA_DIGITS` fraction digits (an effective
    price such as 100 / 3) is rounded half up to that many."""
    exponent = currency_exponent(currency)
    places = exponent + UNIT_PRICE_EXTRA_DIGITS
    value = amount
    if _fraction_digits(value) > places:
        value = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    if value.is_zero():
        value = value.copy_abs()
    digits = max(exponent, _fraction_digits(value))
    pattern = _currency_pattern(resolve_locale(locale), exponent, digits)
    return str(pattern.apply(value, resolve_locale(locale), currency=currency, currency_digits=False))


@lru_cache(maxsize=_MEMO)
def format_quantity(value: Decimal, locale: str | None) -> str:
    """A quantity with the locale's grouping and every significant digit: `1,000`, `1.000,5` (de)."""
    normalized = Decimal(0) if value.is_zero() else value.normalize()
    loc = resolve_locale(locale)
    return str(_decimal_pattern(loc, _fraction_digits(normalized)).apply(normalized, loc))


@lru_cache(maxsize=_MEMO)
def format_percent(rate: Decimal, locale: str | None) -> str:
    """A rate given in percent (`19.0000` -> `19%`, `7.5` de_DE -> `7,5 %`), as the locale writes it."""
    normalized = Decimal(0) if rate.is_zero() else rate.normalize()
    loc = resolve_locale(locale)
    return str(_percent_pattern(loc, _fraction_digits(normalized)).apply(normalized.scaleb(-2), loc))


@lru_cache(maxsize=_MEMO)
def format_date(value: date | None, locale: str | None) -> str:
    """The locale's medium date: en `1 Oct 2026`, en_US `Oct 1, 2026`, de_DE `01.10.2026`,
    ja_JP `2026/10/01`."""
    if value is None:
        return ""
    return _babel_format_date(value, "medium", locale=resolve_locale(locale))


class DocumentFormat:
    """A document's currency and locale, handed to the template filters (`{{ amount|money:fmt }}`)."""

    __slots__ = ("currency", "locale")

    def __init__(self, currency: str, locale: str | None) -> None:
        self.currency = currency
        self.locale = locale or DEFAULT_LOCALE

    def __repr__(self) -> str:
        return f"DocumentFormat({self.currency!r}, {self.locale!r})"
