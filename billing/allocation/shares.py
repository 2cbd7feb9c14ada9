"""Allocation arithmetic, pure (no Django): split a shared cost across targets so that the shares sum to
the cost exactly, to the cent (the currency's minor unit).

The rule for the remainder (largest remainder, then stable order): every share is first cut to the minor
unit toward zero; the minor units still missing are handed out one each to the shares with the largest
cut-off remainders, ties going to the target listed first. A target with a weight of zero gets nothing.
When no target has any weight, nothing is allocated: the whole cost stays unallocated.

Methods: `even` (equal weights), `proportional` (weights = each target's direct cost), `usage`
(weights = each target's quantity of a usage metric), `fixed` (percentages; what they leave below 100 is
its own `unallocated` line, and more than 100 in all is an error)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from common.money import currency_exponent, quantize_money

UNALLOCATED = "unallocated"
METHODS = ("even", "proportional", "usage", "fixed")


class AllocationError(ValueError):
    """The weights or percentages cannot split the cost (negative weight, percentages above 100)."""


@dataclass(frozen=True)
class Share:
    target: str
    amount: Decimal


def _unit(currency: str) -> Decimal:
    return Decimal(1).scaleb(-currency_exponent(currency))


def split(total: Decimal, weights: Sequence[tuple[str, Decimal]], currency: str) -> list[Share]:
    """`total` split across `weights` (target, weight >= 0) in proportion, by largest remainder. The shares
    sum to `total` rounded to the currency's minor unit; [] when every weight is zero."""
    if any(w < 0 for _t, w in weights):
        raise AllocationError("weights must not be negative")
    unit = _unit(currency)
    whole = quantize_money(total, currency, rounding=ROUND_HALF_UP)  # the cost is an amount of the currency
    base = sum((w for _t, w in weights), Decimal(0))
    if base == 0 or not weights:
        return []
    sign = -1 if whole < 0 else 1
    magnitude = abs(whole)
    exact = [magnitude * w / base for _t, w in weights]
    cut = [e.quantize(unit, rounding=ROUND_DOWN) for e in exact]
    missing = int((magnitude - sum(cut, Decimal(0))) / unit)
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - cut[i]), i))
    for i in order[:missing]:
        cut[i] += unit
    return [Share(target=t, amount=sign * a) for (t, _w), a in zip(weights, cut, strict=True)]


def allocate(
    *,
    method: str,
    total: Decimal,
    targets: Sequence[str],
    currency: str,
    weights: dict[str, Decimal] | None = None,
    percentages: dict[str, Decimal] | None = None,
) -> list[Share]:
    """One share per target, in the targets' order, then an `unallocated` share when something is left
    (zero weights everywhere, or fixed percentages below 100). The shares sum to `total` (rounded to the
    currency) exactly."""
    if method not in METHODS:
        raise AllocationError(f"unknown method {method!r}: one of {', '.join(METHODS)}")
    unit = _unit(currency)
    whole = quantize_money(total, currency, rounding=ROUND_HALF_UP)
    if method == "fixed":
        pct = percentages or {}
        if any(p < 0 for p in pct.values()):
            raise AllocationError("percentages must not be negative")
        given = sum((pct.get(t, Decimal(0)) for t in targets), Decimal(0))
        if given > 100:
            raise AllocationError(f"percentages add up to {given}, more than 100")
        pairs = [(t, pct.get(t, Decimal(0))) for t in targets] + [(UNALLOCATED, Decimal(100) - given)]
    elif method == "even":
        pairs = [(t, Decimal(1)) for t in targets]
    else:
        known = weights or {}
        pairs = [(t, known.get(t, Decimal(0))) for t in targets]
    shares = split(whole, pairs, currency)
    if not shares:
        return [Share(target=t, amount=Decimal(0) * unit) for t in targets] + [Share(UNALLOCATED, whole)]
    by_target = [s for s in shares if s.target != UNALLOCATED]
    left = whole - sum((s.amount for s in by_target), Decimal(0))
    return by_target + ([Share(UNALLOCATED, left)] if left != 0 else [])
