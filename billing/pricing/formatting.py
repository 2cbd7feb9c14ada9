"""How exact decimals are written out (quotes, breakdowns, error messages).

The rule: plain positional notation, never an exponent; trailing zeros after the decimal point are
removed (and the point with them); zero is `0`, never `-0` or `0.00`. So `Decimal("1E+3")` -> `1000`,
`Decimal("2.500")` -> `2.5`, `Decimal("-0.0")` -> `0`. The same value always prints the same way,
whatever the precision of its inputs. Rounded amounts are not written with this rule: they keep
exactly the currency's minor-unit digits (`2.50` EUR, `3` JPY), see `format_money`.
"""

from __future__ import annotations

from decimal import Context, Decimal

from common.money import quantize_money

__all__ = ["format_decimal", "format_money"]

# Wide enough that normalize() never rounds the values the engine can produce.
_EXACT = Context(prec=1000)


def format_decimal(value: Decimal) -> str:
    if not value.is_finite():
        raise ValueError(f"cannot format a non-finite decimal: {value}")
    if value.is_zero():
        return "0"
    return format(value.normalize(_EXACT), "f")


def format_money(amount: Decimal, currency: str) -> str:
    """`amount` rounded once (ROUND_HALF_UP) to the currency's minor unit, with exactly that many
    digits after the point."""
    return format(quantize_money(amount, currency), "f")
