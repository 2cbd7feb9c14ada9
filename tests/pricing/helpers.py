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


# DESIGN.md's example: the first 1000 free, then 0.002 up to 10000, then 0.001 and a flat 5.
API_CALLS: dict[str, Any] = {
    "model": "graduated",
    "tiers": [
        {"up_to": 1000, "unit_amount": "0", "flat_amount": "0"},
        {"up_to": 10000, "unit_amount": "0.002"},
        {"up_to": None, "unit_amount": "0.001", "flat_amount": "5"},
    ],
}
# A first tier with an entry fee (charged even at quantity 0).
WITH_ENTRY_FEE: dict[str, Any] = {
    "model": "graduated",
    "tiers": [
        {"up_to": "100", "unit_amount": "1", "flat_amount": "10"},
        {"up_to": None, "unit_amount": "0.5"},
    ],
}
# The quote of DESIGN.md's example at 12,500 units (25.50 EUR).
GRADUATED_QUOTE: dict[str, Any] = {"price": API_CALLS, "quantity": "12500", "currency": "EUR"}
