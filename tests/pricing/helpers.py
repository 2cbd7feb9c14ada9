"""Small helpers shared by the pricing tests (pure: no Django, no database)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from billing.pricing import PriceResult, parse_price, price


def D(value: str | int) -> Decimal:
    return Decimal(value)


def priced(
    entry: Mapping[str, Any],
    quantity: str | int = "0",
    events: Sequence[str] | None = None,
    **carried: Any,
) -> PriceResult:
    """Parses `entry` and prices it; decimals are written as strings, as in a profile document."""
    return price(
        parse_price(entry),
        quantity=Decimal(quantity),
        events=None if events is None else [Decimal(e) for e in events],
        **carried,
    )


def amount(
    entry: Mapping[str, Any], quantity: str | int = "0", events: Sequence[str] | None = None
) -> Decimal:
    return priced(entry, quantity, events).amount


def walk(value: Any) -> list[Any]:
    """Every leaf of a JSON-like structure."""
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in walk(item)]
    if isinstance(value, list | tuple):
        return [leaf for item in value for leaf in walk(item)]
    return [value]
