"""Template filters for documents: money at its currency's minor unit, quantities without exponents."""

from __future__ import annotations

from decimal import Decimal

from django import template

from common.money import quantize_money

register = template.Library()


@register.filter
def money(value: Decimal | None, currency: str) -> str:
    """`75.5000` EUR -> `75.50`; `17500.0000` JPY -> `17500`; `1.2350` KWD -> `1.235`. Stored amounts
    are already rounded once per line, so this only sets the number of digits shown."""
    if value is None:
        return ""
    return f"{quantize_money(value, currency):f}"


@register.filter
def plain(value: Decimal | None) -> str:
    """A quantity or rate without trailing zeros and never in exponent form (`1000`, not `1E+3`)."""
    if value is None:
        return ""
    text = f"{value.normalize():f}"
    return "0" if text in {"-0", "0"} else text
