"""Proration of a flat fee by days (DESIGN.md: flat fees are prorated by the days each version was in
force). The share is `amount x days / period_days`, which need not terminate (1/3 of a fee), so it is
the one place the engine rounds: to 18 decimal places, half up, the precision invoice lines keep their
exact amounts at. The invoice line then rounds it once more, to the currency's minor unit."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, localcontext

from common.money import WIDE_CONTEXT

__all__ = ["EXACT_QUANTUM", "prorate"]

EXACT_QUANTUM = Decimal("1e-18")


def prorate(amount: Decimal, *, days: int, period_days: int) -> Decimal:
    """`amount` for `days` of a period of `period_days` days (the whole amount when they are equal)."""
    if period_days <= 0 or not 0 <= days <= period_days:
        raise ValueError(f"cannot prorate {days} of {period_days} days")
    if days == period_days:
        return amount
    with localcontext(WIDE_CONTEXT):
        return (amount * days / period_days).quantize(EXACT_QUANTUM, rounding=ROUND_HALF_UP)
