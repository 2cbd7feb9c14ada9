"""Template filters for documents: money at its currency's minor unit, quantities without exponents,
instants in UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime
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


def _in_utc(value: date) -> date:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC)
    return value


@register.filter
def utc_minute(value: datetime | None) -> str:
    """`2026-11-01 00:00`: an instant in UTC to the minute (what the invoice labels "UTC"). The same text
    as Django's `date:"Y-m-d H:i"` with TIME_ZONE = "UTC", at a fraction of its cost (per-format and
    per-locale lookups on every call)."""
    if value is None or value == "":
        return ""
    return f"{_in_utc(value):%Y-%m-%d %H:%M}"


@register.filter
def utc_day(value: date | None) -> str:
    """`2026-12-06`: a date, or the UTC day of an instant (Django's `date:"Y-m-d"` with TIME_ZONE = "UTC")."""
    if value is None or value == "":
        return ""
    return f"{_in_utc(value):%Y-%m-%d}"
