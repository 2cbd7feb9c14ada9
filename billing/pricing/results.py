"""What the engine returns: the exact amount and a breakdown row per tier / event / line.

Every row has `as_dict()` giving JSON-able values: decimals as strings (see formatting.py), indexes as
ints, flags as bools, absent values as None. No float appears anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from .formatting import format_decimal

__all__ = ["BreakdownRow", "EventRow", "FlatRow", "PackageRow", "PriceResult", "TierRow", "UnitRow"]


def _d(value: Decimal | None) -> str | None:
    return None if value is None else format_decimal(value)


@dataclass(frozen=True)
class TierRow:
    """Tiered models. Tier `tier` (0-based) holds the units in `(lower, up_to]` (`up_to=None`: open).

    graduated / graduated_percentage: `units` are this segment's units inside the tier and
    `flat_amount` is charged when the tier is reached for the first time in the period.
    volume: `units` are all units of the period so far; a `kind="carried"` row subtracts what the
    units carried from earlier segments already cost under this price (see engine.py).
    """

    tier: int
    lower: Decimal
    up_to: Decimal | None
    units: Decimal
    unit_amount: Decimal | None  # None for graduated_percentage
    rate: Decimal | None  # percent; graduated_percentage only
    flat_amount: Decimal
    amount: Decimal
    kind: Literal["tier", "carried"] = "tier"

    def as_dict(self) -> dict[str, Any]:
        row: dict[str, Any] = {
            "kind": self.kind,
            "tier": self.tier,
            "lower": _d(self.lower),
            "up_to": _d(self.up_to),
            "units": _d(self.units),
        }
        if self.rate is not None:
            row["rate"] = _d(self.rate)
        else:
            row["unit_amount"] = _d(self.unit_amount)
        row["flat_amount"] = _d(self.flat_amount)
        row["amount"] = _d(self.amount)
        return row


EventStatus = Literal["free", "partly_free", "charged", "zero"]


@dataclass(frozen=True)
class EventRow:
    """percentage: one row per event, `index` being its position in the given `events` (0-based).

    status: `free` (inside the free allowances), `partly_free` (crosses the end of the free part),
    `charged`, or `zero` (quantity 0: pays nothing). `fee` is fixed + rate% x chargeable units before
    clamping; `clamped` says which bound replaced it; `amount` is what the event pays."""

    index: int
    quantity: Decimal
    status: EventStatus
    free_units: Decimal
    chargeable_units: Decimal
    fee: Decimal
    clamped: Literal["min", "max"] | None
    amount: Decimal

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": "event",
            "index": self.index,
            "quantity": _d(self.quantity),
            "status": self.status,
            "free_units": _d(self.free_units),
            "chargeable_units": _d(self.chargeable_units),
            "fee": _d(self.fee),
            "clamped": self.clamped,
            "amount": _d(self.amount),
        }


@dataclass(frozen=True)
class UnitRow:
    """per_unit: `billable_units` = units of this segment above the free allowance."""

    quantity: Decimal
    free_units: Decimal
    billable_units: Decimal
    unit_amount: Decimal
    amount: Decimal

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": "units",
            "quantity": _d(self.quantity),
            "free_units": _d(self.free_units),
            "billable_units": _d(self.billable_units),
            "unit_amount": _d(self.unit_amount),
            "amount": _d(self.amount),
        }


@dataclass(frozen=True)
class PackageRow:
    """package: `packages` started by this segment, each at `package_amount`."""

    quantity: Decimal
    free_units: Decimal
    billable_units: Decimal
    package_size: Decimal
    packages: Decimal
    package_amount: Decimal
    amount: Decimal

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": "packages",
            "quantity": _d(self.quantity),
            "free_units": _d(self.free_units),
            "billable_units": _d(self.billable_units),
            "package_size": _d(self.package_size),
            "packages": _d(self.packages),
            "package_amount": _d(self.package_amount),
            "amount": _d(self.amount),
        }


@dataclass(frozen=True)
class FlatRow:
    """flat: `charged` is False for a segment that continues a period (already charged)."""

    amount: Decimal
    charged: bool

    def as_dict(self) -> dict[str, Any]:
        return {"kind": "flat", "charged": self.charged, "amount": _d(self.amount)}


BreakdownRow = TierRow | EventRow | UnitRow | PackageRow | FlatRow


@dataclass(frozen=True)
class PriceResult:
    """The exact, unrounded amount (rounding happens once per invoice line, by the caller)."""

    amount: Decimal
    breakdown: tuple[BreakdownRow, ...]

    def breakdown_dicts(self) -> list[dict[str, Any]]:
        return [row.as_dict() for row in self.breakdown]
