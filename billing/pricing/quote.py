"""Quotes (DESIGN.md "Quotes"): the pricing engine from the outside, JSON in and JSON out.

Input: `{"price": <one prices entry, sku optional>, "quantity": "800", "events": ["50", ...],
"currency": "EUR"}`, plus two optional keys for pricing a continuing segment of a period
(`carried_quantity`, `carried_events`, see engine.py). `quantity` may be left out for the percentage
model (it is then the sum of `events`); if given, it must equal that sum. `events` is required for
percentage and ignored by the other models.

Output: `{"amount": exact, "amount_rounded": rounded once to the currency, "currency", "breakdown"}`,
every decimal a string (formatting.py states the rule). Bad input raises `PricingError`, each error
naming its field (`price.tiers[1].up_to`, `quantity`, `currency`, `events[3]`).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from common.money import UnknownCurrency, currency_exponent

from .engine import price as price_of
from .errors import FieldError, PricingError, join_path, sorted_errors
from .formatting import format_decimal, format_money
from .parsing import Reader
from .prices import PercentagePrice, Price

__all__ = ["error_payload", "quote"]

_KEYS = ("price", "quantity", "events", "currency", "carried_quantity", "carried_events")


def quote(payload: Any) -> dict[str, Any]:
    """The quote for `payload`, or `PricingError` listing every invalid field."""
    reader = Reader()
    if reader.mapping(payload, "$") is None:
        raise PricingError(reader.errors)
    for key in payload:
        if key not in _KEYS:
            reader.error(str(key), "unknown key")
    currency = _currency(reader, payload)
    price = reader.price(payload["price"], "price") if "price" in payload else None
    if "price" not in payload:
        reader.error("price", "is required")
    events = _events(reader, payload, "events")
    carried_events = _events(reader, payload, "carried_events")
    carried_quantity = _optional_quantity(reader, payload, "carried_quantity")
    quantity = _optional_quantity(reader, payload, "quantity")
    if price is not None and "quantity" not in payload:
        if not isinstance(price, PercentagePrice):
            reader.error("quantity", "is required")
        elif events is not None:
            quantity = sum(events, Decimal(0))  # else the events' own error is reported
    if isinstance(price, PercentagePrice) and "events" not in payload:
        reader.error("events", "is required for the percentage model")
    if reader.errors or price is None or quantity is None or currency is None:
        raise PricingError(sorted_errors(reader.errors or [FieldError("$", "is invalid")]))
    return _result(
        price,
        quantity=quantity,
        events=events,
        carried_quantity=carried_quantity,
        carried_events=carried_events,
        currency=currency,
    )


def _result(
    price: Price,
    *,
    quantity: Decimal,
    events: list[Decimal] | None,
    carried_quantity: Decimal | None,
    carried_events: list[Decimal] | None,
    currency: str,
) -> dict[str, Any]:
    result = price_of(
        price,
        quantity=quantity,
        events=events,
        carried_quantity=carried_quantity,
        carried_events=carried_events,
    )
    return {
        "amount": format_decimal(result.amount),
        "amount_rounded": format_money(result.amount, currency),
        "currency": currency,
        "breakdown": result.breakdown_dicts(),
    }


def _currency(reader: Reader, payload: Mapping[str, Any]) -> str | None:
    if "currency" not in payload:
        reader.error("currency", "is required")
        return None
    value = payload["currency"]
    if not isinstance(value, str):
        reader.error("currency", "must be a string")
        return None
    try:
        currency_exponent(value)
    except UnknownCurrency as err:
        reader.error("currency", str(err))
        return None
    return value


def _optional_quantity(reader: Reader, payload: Mapping[str, Any], key: str) -> Decimal | None:
    if key not in payload:
        return None
    return reader.amount(payload[key], key)


def _events(reader: Reader, payload: Mapping[str, Any], key: str) -> list[Decimal] | None:
    if key not in payload:
        return None
    raw = payload[key]
    if not isinstance(raw, list):
        reader.error(key, "must be a list")
        return None
    before = len(reader.errors)
    values = [reader.amount(value, join_path(key, index)) for index, value in enumerate(raw)]
    if len(reader.errors) != before:
        return None
    return [v for v in values if v is not None]


def error_payload(err: PricingError) -> dict[str, Any]:
    """The JSON body for an invalid quote (exit code 2 / HTTP 400), in the API's error shape: the first
    error as the message, every error by field."""
    first, more = err.errors[0], len(err.errors) - 1
    return {
        "error": "invalid",
        "message": f"{first}" + (f" (and {more} more)" if more else ""),
        "errors": [{"field": e.path, "message": e.message} for e in err.errors],
    }
