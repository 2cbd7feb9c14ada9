"""How FOCUS cells are written, once, as text (the CSV cell; Parquet casts it to its column's type):

- decimals as decimals, never integer-looking (12.00, 480.0; never 12 or 1E+2): the validator reads an
  integer-looking CSV column as an integer and fails its Decimal check;
- money at its currency's minor unit (ISO 4217: EUR 12.00, JPY 480.0, KWD 1.250);
- date/times in UTC, `YYYY-MM-DDTHH:MM:SSZ`.

Pure: no Django. Texts that repeat (period bounds, rates) are memoized."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

from common.money import currency_exponent

_TIMES: dict[datetime, str] = {}
_RATES: dict[Decimal, str] = {}
_QUANTA: dict[str, Decimal] = {}
_MEMO_LIMIT = 100_000


def format_decimal(value: Decimal) -> str:
    """Plain notation with a decimal point: Decimal('12.00') -> '12.00', Decimal('480') -> '480.0',
    Decimal('1E+2') -> '100.0', Decimal('-0.5') -> '-0.5'."""
    text = format(value, "f")
    return text if "." in text else text + ".0"


def format_quantity(value: Decimal) -> str:
    """A quantity without trailing zeros: Decimal('11422.000000000000') -> '11422.0'."""
    return format_decimal(value.normalize())


def format_money(amount: Decimal, currency: str) -> str:
    """An amount at the currency's minor unit (stored amounts already are: this rounds nothing, it fixes the
    number of places; ROUND_HALF_UP as common.money.quantize_money would)."""
    quantum = _QUANTA.get(currency)
    if quantum is None:
        quantum = _QUANTA[currency] = Decimal(1).scaleb(-currency_exponent(currency))
    rounded = amount.quantize(quantum, rounding=ROUND_HALF_UP)
    return format_decimal(rounded.copy_abs() if rounded.is_zero() else rounded)  # never "-0.00"


def format_rate(value: Decimal) -> str:
    """A rate (VAT percent, FX) without trailing zeros: 19.0000 -> '19.0', 1.000000000000000000 -> '1.0'."""
    text = _RATES.get(value)
    if text is None:
        text = format_quantity(value)
        if len(_RATES) < _MEMO_LIMIT:
            _RATES[value] = text
    return text


def format_datetime(value: datetime) -> str:
    """An aware instant as UTC with a Z: 2026-10-01T00:00:00Z."""
    text = _TIMES.get(value)
    if text is None:
        if value.tzinfo is None:
            raise ValueError("FOCUS date/times must be aware")
        text = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if len(_TIMES) < _MEMO_LIMIT:
            _TIMES[value] = text
    return text
