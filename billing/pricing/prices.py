"""Typed, immutable prices and profile documents, as produced by `parse_price` / `validate_document`.

Every amount is an exact `Decimal`; every instance was validated on the way in, so the engine can
trust it (tiers ascending, the last tier open-ended, percentages in [0, 100], ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import ClassVar, Literal

__all__ = [
    "MODELS",
    "Commitment",
    "Discount",
    "FlatPrice",
    "GraduatedPercentagePrice",
    "GraduatedPrice",
    "PackagePrice",
    "PerUnitPrice",
    "PercentagePrice",
    "Price",
    "ProfileDocument",
    "RateTier",
    "Tax",
    "Tier",
    "VolumePrice",
]

ZERO = Decimal(0)


@dataclass(frozen=True)
class Tier:
    """Units in `(previous up_to, up_to]` (`up_to=None`: open-ended) at `unit_amount` each, plus
    `flat_amount` once when the tier is reached."""

    up_to: Decimal | None
    unit_amount: Decimal
    flat_amount: Decimal = ZERO


@dataclass(frozen=True)
class RateTier:
    """A `graduated_percentage` tier: `rate` percent of the units in the tier, plus `flat_amount`."""

    up_to: Decimal | None
    rate: Decimal
    flat_amount: Decimal = ZERO


@dataclass(frozen=True)
class PerUnitPrice:
    model: ClassVar[str] = "per_unit"
    unit_amount: Decimal
    free_units: Decimal = ZERO
    sku: str | None = None


@dataclass(frozen=True)
class GraduatedPrice:
    model: ClassVar[str] = "graduated"
    tiers: tuple[Tier, ...]
    sku: str | None = None


@dataclass(frozen=True)
class GraduatedPercentagePrice:
    model: ClassVar[str] = "graduated_percentage"
    tiers: tuple[RateTier, ...]
    sku: str | None = None


@dataclass(frozen=True)
class VolumePrice:
    model: ClassVar[str] = "volume"
    tiers: tuple[Tier, ...]
    sku: str | None = None


@dataclass(frozen=True)
class PackagePrice:
    model: ClassVar[str] = "package"
    package_size: Decimal
    package_amount: Decimal
    free_units: Decimal = ZERO
    sku: str | None = None


@dataclass(frozen=True)
class PercentagePrice:
    """Per event: `rate` percent of the event's quantity plus `fixed_amount`, clamped to
    `[min_per_event, max_per_event]`; `None` means the allowance or clamp is not set."""

    model: ClassVar[str] = "percentage"
    rate: Decimal
    fixed_amount: Decimal = ZERO
    free_events: int | None = None
    free_units: Decimal | None = None
    min_per_event: Decimal | None = None
    max_per_event: Decimal | None = None
    sku: str | None = None


@dataclass(frozen=True)
class FlatPrice:
    """`amount` once per period. `proration`: "days" (default) shares it among the versions in force in
    the period by their days; "none" charges it whole from the version in force at the period's end."""

    model: ClassVar[str] = "flat"
    amount: Decimal
    sku: str | None = None
    proration: Literal["days", "none"] = "days"


Price = (
    PerUnitPrice
    | GraduatedPrice
    | GraduatedPercentagePrice
    | VolumePrice
    | PackagePrice
    | PercentagePrice
    | FlatPrice
)

MODELS: tuple[str, ...] = (
    "per_unit",
    "graduated",
    "graduated_percentage",
    "volume",
    "package",
    "percentage",
    "flat",
)


@dataclass(frozen=True)
class Tax:
    """`mode`: whether the prices include the tax. `jurisdiction` (optional, legacy): the place of supply is
    the tenant's; a document that names another one is refused where it meets a tenant (assignment, close)."""

    jurisdiction: str | None
    mode: Literal["exclusive", "inclusive"]


@dataclass(frozen=True)
class Commitment:
    """`minimum_spend` per period: a true-up line when the period's total is lower."""

    minimum_spend: Decimal | None = None


@dataclass(frozen=True)
class Discount:
    """Exactly one of `percent` (in (0, 100]) and `amount` (a fixed amount) is set. `skus=None`
    applies to the whole invoice. Dates are inclusive; `None` is unbounded."""

    code: str
    percent: Decimal | None
    amount: Decimal | None
    skus: tuple[str, ...] | None
    valid_from: date | None
    valid_to: date | None
    priority: int
    stackable: bool
    name: str = ""  # printed on invoices; the code when empty

    def is_valid_on(self, day: date) -> bool:
        return (self.valid_from is None or self.valid_from <= day) and (
            self.valid_to is None or day <= self.valid_to
        )


@dataclass(frozen=True)
class ProfileDocument:
    profile: str
    currency: str
    billing_cycle: Literal["monthly", "quarterly", "yearly"]
    grace_hours: int
    backdating_days: int
    required_tags: tuple[str, ...]
    tax: Tax
    prices: Mapping[str, Price]  # by sku, in document order
    commitments: Commitment
    discounts: tuple[Discount, ...]
