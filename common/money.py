"""Money helpers: ISO 4217 exponents, the one rounding helper, and the one way text becomes a Decimal.

Pure: imports no Django. No float ever enters money: `parse_decimal` refuses floats outright, so a
value that was already rounded by binary floating point is an error, not a silently wrong amount.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from functools import lru_cache

import iso4217

__all__ = [
    "MAX_FRACTION_DIGITS",
    "MAX_INTEGER_DIGITS",
    "InvalidDecimal",
    "UnknownCurrency",
    "currency_exponent",
    "is_known_currency",
    "parse_decimal",
    "quantize_money",
]

# Bounds on parsed values, so that exact arithmetic on them stays cheap and finite. They are far above
# anything billing needs (usage quantities are stored with 26 integer and 12 fraction digits).
MAX_INTEGER_DIGITS = 30
MAX_FRACTION_DIGITS = 30

# A decimal context wide enough that money arithmetic on stored amounts (38 digits) never rounds
# silently; rounding happens only where quantize_money says so. Use with `localcontext(WIDE_CONTEXT)`.
WIDE_CONTEXT = Context(prec=60, rounding=ROUND_HALF_UP)

_PLAIN_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?", re.ASCII)


class UnknownCurrency(ValueError):
    """Not an ISO 4217 code, or a code without a minor unit (XAU, XDR, ...)."""


class InvalidDecimal(ValueError):
    """A value that is not an acceptable decimal. `field` names the input, `message` says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@lru_cache(maxsize=512)
def currency_exponent(code: str) -> int:
    """Digits after the decimal point of the currency's minor unit: EUR 2, JPY 0, KWD 3. Cached (ISO 4217
    data is static; a close or backtest rounds every line with it); an unknown code raises every time."""
    try:
        currency = iso4217.Currency(code)
    except ValueError:
        raise UnknownCurrency(f"{code!r} is not an ISO 4217 currency code") from None
    exponent = currency.exponent
    if exponent is None:
        raise UnknownCurrency(f"{code!r} has no minor unit and cannot be invoiced")
    return int(exponent)


def is_known_currency(code: str) -> bool:
    try:
        currency_exponent(code)
    except UnknownCurrency:
        return False
    return True


def quantize_money(amount: Decimal, currency: str, *, rounding: str = ROUND_HALF_UP) -> Decimal:
    """`amount` rounded to the currency's minor unit; `rounding` is always passed explicitly, so the
    result never depends on the ambient decimal context. Never returns a negative zero."""
    if not amount.is_finite():
        raise ValueError(f"cannot round a non-finite amount: {amount}")
    exponent = currency_exponent(currency)
    quantum = Decimal(1).scaleb(-exponent)
    with localcontext(Context(prec=max(28, amount.adjusted() + exponent + 2))):
        rounded = amount.quantize(quantum, rounding=rounding)
    return rounded.copy_abs() if rounded.is_zero() else rounded


def parse_decimal(value: object, *, field: str) -> Decimal:
    """`value` (a str, int or Decimal) as an exact Decimal, or `InvalidDecimal` naming `field`.

    Strings must be plain decimal notation (`"12"`, `"-0.50"`): no exponent, no spaces, no `_`.
    Floats are refused (they are already inexact); so are booleans, NaN and infinities.
    """
    if isinstance(value, bool):
        raise InvalidDecimal(field, "must be a decimal string, not a boolean")
    if isinstance(value, float):
        raise InvalidDecimal(field, f'must be a decimal string such as "{value!r}", not a float')
    if isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise InvalidDecimal(field, f"must be a finite decimal number (got {value})")
        result = value
    elif isinstance(value, str):
        if value == "":
            raise InvalidDecimal(field, "must not be empty")
        if not _PLAIN_DECIMAL.fullmatch(value):
            shown = value if len(value) <= 40 else value[:37] + "..."
            raise InvalidDecimal(field, f'must be a decimal number such as "12.50" (got {shown!r})')
        result = Decimal(value)
    else:
        raise InvalidDecimal(field, f"must be a decimal string (got {type(value).__name__})")
    _check_size(result, field)
    return result


def _check_size(value: Decimal, field: str) -> None:
    exponent = value.as_tuple().exponent
    if not isinstance(exponent, int):  # pragma: no cover - callers pass finite values only
        raise InvalidDecimal(field, f"must be a finite decimal number (got {value})")
    if -exponent > MAX_FRACTION_DIGITS:
        raise InvalidDecimal(field, f"must have at most {MAX_FRACTION_DIGITS} digits after the decimal point")
    if not value.is_zero() and value.adjusted() + 1 > MAX_INTEGER_DIGITS:
        raise InvalidDecimal(field, f"must have at most {MAX_INTEGER_DIGITS} digits before the decimal point")
