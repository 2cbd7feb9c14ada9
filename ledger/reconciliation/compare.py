"""The comparison of two sets of figures, pure (no Django): per key, `actual - expected`, its percentage
of `expected`, and whether it breaches a threshold. A key on one side only compares against zero, so
nothing is silently dropped.

Thresholds: a delta breaches when |delta| > amount AND (|pct| > pct or nothing was expected). With both
at 0, every non-zero delta breaches (used for the ledger check, where any difference is an error)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Generic, TypeVar

from common.money import quantize_money

K = TypeVar("K", bound=Hashable)
_PCT = Decimal("0.0001")


@dataclass(frozen=True)
class Threshold:
    amount: Decimal
    pct: Decimal

    def breached(self, delta: Decimal, pct: Decimal | None) -> bool:
        if abs(delta) <= self.amount:
            return False
        return pct is None or abs(pct) > self.pct

    def as_json(self) -> dict[str, str]:
        return {"amount": str(self.amount), "pct": str(self.pct)}


@dataclass(frozen=True)
class Figure:
    """One side's amount for a key, its currency and the ids of the rows it came from."""

    amount: Decimal
    currency: str
    sources: dict[str, list[int]] = field(default_factory=dict)


@dataclass(frozen=True)
class Finding(Generic[K]):
    key: K
    currency: str
    expected: Decimal
    actual: Decimal
    delta: Decimal
    pct: Decimal | None
    breached: bool
    sources: dict[str, list[int]]
    note: str = ""


def delta_pct(delta: Decimal, expected: Decimal) -> Decimal | None:
    if expected == 0:
        return None if delta != 0 else Decimal(0)
    return (delta * 100 / abs(expected)).quantize(_PCT, rounding=ROUND_HALF_UP)


def compare(
    *, expected: Mapping[K, Figure], actual: Mapping[K, Figure], threshold: Threshold
) -> tuple[int, list[Finding[K]]]:
    """(keys compared, findings for the keys whose rounded amounts differ), in key order of first sight.
    Each side is rounded once to its currency's minor unit before the subtraction. Different currencies
    on the two sides of a key are a finding of their own (note says so), never a subtraction."""
    keys = list(dict.fromkeys([*expected, *actual]))
    findings: list[Finding[K]] = []
    for key in keys:
        left, right = expected.get(key), actual.get(key)
        currency = (left or right).currency if (left or right) is not None else ""  # type: ignore[union-attr]
        sources: dict[str, list[int]] = {}
        for side in (left, right):
            if side is not None:
                for name, ids in side.sources.items():
                    sources.setdefault(name, []).extend(ids)
        if left is not None and right is not None and left.currency != right.currency:
            findings.append(
                Finding(
                    key=key,
                    currency=left.currency,
                    expected=quantize_money(left.amount, left.currency),
                    actual=quantize_money(right.amount, right.currency),
                    delta=Decimal(0),
                    pct=None,
                    breached=True,
                    sources=sources,
                    note=f"currencies differ: {left.currency} expected, {right.currency} found",
                )
            )
            continue
        exp = quantize_money(left.amount, currency) if left is not None else Decimal(0)
        act = quantize_money(right.amount, currency) if right is not None else Decimal(0)
        delta = act - exp
        if delta == 0:
            continue
        pct = delta_pct(delta, exp)
        note = (
            ""
            if left is not None and right is not None
            else ("expected only" if right is None else "found only")
        )
        findings.append(
            Finding(
                key=key,
                currency=currency,
                expected=exp,
                actual=act,
                delta=delta,
                pct=pct,
                breached=threshold.breached(delta, pct),
                sources=sources,
                note=note,
            )
        )
    return len(keys), findings
