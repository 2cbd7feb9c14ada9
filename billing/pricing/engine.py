"""The pricing engine: exact `Decimal` amounts for one price and one billing period's usage.

Semantics are DESIGN.md "Pricing semantics", to the last digit; docs/pricing.md has worked examples.
Nothing is rounded here: every operation runs in a wide decimal context that *traps* `Inexact`, so
a result that could not be represented exactly raises instead of being silently rounded.

Carried usage (a profile version changed mid-period; "tier position carries across segments"):
`carried_quantity` / `carried_events` are what earlier segments of the same period consumed. With
P the amount of this price for a whole period, a continuing segment costs P(carried + q) - P(carried):

- per_unit, package, graduated, graduated_percentage, volume: as above, with `carried_quantity`.
  `carried_quantity=None` (the default) means "first segment of the period"; `Decimal(0)` means "an
  earlier segment exists and used nothing", so the first graduated tier's flat is not charged again.
- percentage: the events of `carried_events` consume the free allowances first (None = no earlier
  events); this segment's events are then priced with what is left.
- flat: the amount when nothing was carried (`carried_quantity is None`), else 0.
`price_segments` threads these values through the segments of a period for you.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import (
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
    localcontext,
)
from typing import Literal

from .errors import PricingError, join_path
from .formatting import format_decimal
from .prices import (
    ZERO,
    FlatPrice,
    GraduatedPercentagePrice,
    GraduatedPrice,
    PackagePrice,
    PercentagePrice,
    PerUnitPrice,
    Price,
    RateTier,
    Tier,
    VolumePrice,
)
from .results import BreakdownRow, EventRow, EventStatus, FlatRow, PackageRow, PriceResult, TierRow, UnitRow

__all__ = ["Segment", "price", "price_segments"]

HUNDRED = Decimal(100)
_EXACT = Context(
    prec=1000, rounding=ROUND_HALF_UP, traps=[Inexact, InvalidOperation, DivisionByZero, Overflow]
)


def price(
    price: Price,
    *,
    quantity: Decimal,
    events: Sequence[Decimal] | None = None,
    carried_quantity: Decimal | None = None,
    carried_events: Sequence[Decimal] | None = None,
) -> PriceResult:
    """The exact amount of `price` for `quantity` units (and, for `percentage`, the per-event
    quantities `events` in time order, whose sum must equal `quantity`).

    `events` is ignored by the other models. `carried_*`: see the module docstring."""
    quantity = _non_negative(quantity, "quantity")
    carried = None if carried_quantity is None else _non_negative(carried_quantity, "carried_quantity")
    with localcontext(_EXACT):
        if isinstance(price, PercentagePrice):
            return _percentage_checked(price, quantity, events, carried, carried_events)
        if isinstance(price, PerUnitPrice):
            return _per_unit(price, quantity, carried)
        if isinstance(price, GraduatedPrice | GraduatedPercentagePrice):
            return _graduated(price.tiers, quantity, carried)
        if isinstance(price, VolumePrice):
            return _volume(price, quantity, carried)
        if isinstance(price, PackagePrice):
            return _package(price, quantity, carried)
        if isinstance(price, FlatPrice):
            return _flat(price, carried)
    raise TypeError(f"not a price: {price!r}")


@dataclass(frozen=True)
class Segment:
    """One stretch of a billing period priced by one profile version."""

    price: Price
    quantity: Decimal
    events: Sequence[Decimal] | None = None


def price_segments(segments: Sequence[Segment]) -> tuple[PriceResult, ...]:
    """Prices consecutive segments of one period (in time order), carrying the usage of the earlier
    ones into the later ones. The sum of the amounts is the period's amount for the SKU."""
    results: list[PriceResult] = []
    carried_quantity: Decimal | None = None
    carried_events: list[Decimal] | None = None
    for segment in segments:
        results.append(
            price(
                segment.price,
                quantity=segment.quantity,
                events=segment.events,
                carried_quantity=None if isinstance(segment.price, PercentagePrice) else carried_quantity,
                carried_events=carried_events,
            )
        )
        carried_quantity = (carried_quantity or ZERO) + segment.quantity
        if segment.events is not None:
            carried_events = [*(carried_events or []), *segment.events]
    return tuple(results)


def _non_negative(value: object, field: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise PricingError.single(field, f"must be a Decimal (got {type(value).__name__})")
    result = Decimal(value)
    if not result.is_finite():
        raise PricingError.single(field, "must be a finite number")
    if result < 0:
        raise PricingError.single(field, "must not be negative")
    return result


def _event_list(values: Sequence[Decimal], field: str) -> list[Decimal]:
    return [_non_negative(v, join_path(field, i)) for i, v in enumerate(values)]


# -- per_unit and package ------------------------------------------------------------------------


def _billable(start: Decimal, end: Decimal, free: Decimal) -> Decimal:
    """Units in (start, end] above the first `free` units of the period."""
    return max(ZERO, end - free) - max(ZERO, start - free)


def _per_unit(p: PerUnitPrice, quantity: Decimal, carried: Decimal | None) -> PriceResult:
    start = carried or ZERO
    billable = _billable(start, start + quantity, p.free_units)
    amount = billable * p.unit_amount
    row = UnitRow(quantity, quantity - billable, billable, p.unit_amount, amount)
    return PriceResult(amount, (row,))


def _packages(units: Decimal, size: Decimal) -> Decimal:
    """ceil(units / size) for units >= 0, size > 0, computed exactly."""
    whole, rest = divmod(units, size)
    return whole + 1 if rest else whole


def _package(p: PackagePrice, quantity: Decimal, carried: Decimal | None) -> PriceResult:
    start = carried or ZERO
    end = start + quantity
    before = _packages(max(ZERO, start - p.free_units), p.package_size)
    after = _packages(max(ZERO, end - p.free_units), p.package_size)
    packages = after - before
    billable = _billable(start, end, p.free_units)
    amount = packages * p.package_amount
    row = PackageRow(
        quantity, quantity - billable, billable, p.package_size, packages, p.package_amount, amount
    )
    return PriceResult(amount, (row,))


# -- tiered models -------------------------------------------------------------------------------


def _tier_cost(tier: Tier | RateTier, units: Decimal) -> Decimal:
    if isinstance(tier, RateTier):
        return units * tier.rate / HUNDRED
    return units * tier.unit_amount


def _tier_row(
    index: int, lower: Decimal, tier: Tier | RateTier, *, units: Decimal, flat: Decimal, amount: Decimal
) -> TierRow:
    rate = tier.rate if isinstance(tier, RateTier) else None
    unit_amount = tier.unit_amount if isinstance(tier, Tier) else None
    return TierRow(index, lower, tier.up_to, units, unit_amount, rate, flat, amount)


def _reached(index: int, lower: Decimal, position: Decimal | None) -> bool:
    """Whether a period that has consumed `position` units reached tier `index` (whose units start
    above `lower`). The first tier is reached as soon as the period is priced at all."""
    if position is None:
        return False
    return index == 0 or position > lower


def _graduated(tiers: Sequence[Tier | RateTier], quantity: Decimal, carried: Decimal | None) -> PriceResult:
    start = carried or ZERO
    end = start + quantity
    rows: list[BreakdownRow] = []
    total = ZERO
    lower = ZERO
    for index, tier in enumerate(tiers):
        if not _reached(index, lower, end):
            break
        upper = end if tier.up_to is None else min(tier.up_to, end)
        units = max(ZERO, upper - max(lower, start))
        newly_reached = not _reached(index, lower, carried)
        if units or newly_reached:
            flat = tier.flat_amount if newly_reached else ZERO
            amount = _tier_cost(tier, units) + flat
            rows.append(_tier_row(index, lower, tier, units=units, flat=flat, amount=amount))
            total += amount
        if tier.up_to is None:
            break
        lower = tier.up_to
    return PriceResult(total, tuple(rows))


def _volume_tier(tiers: Sequence[Tier], quantity: Decimal) -> tuple[int, Decimal, Tier]:
    """The first tier with quantity <= up_to (the last tier is open-ended), and its lower bound."""
    lower = ZERO
    for index, tier in enumerate(tiers):
        if tier.up_to is None or quantity <= tier.up_to:
            return index, lower, tier
        lower = tier.up_to
    raise ValueError("the last tier of a volume price must be open-ended")  # parse_price guarantees it


def _volume_row(tiers: Sequence[Tier], units: Decimal, *, carried: bool) -> TierRow:
    index, lower, tier = _volume_tier(tiers, units)
    amount = units * tier.unit_amount + tier.flat_amount
    kind: Literal["tier", "carried"] = "tier"
    if carried:
        amount, kind = -amount, "carried"
    return TierRow(index, lower, tier.up_to, units, tier.unit_amount, None, tier.flat_amount, amount, kind)


def _volume(p: VolumePrice, quantity: Decimal, carried: Decimal | None) -> PriceResult:
    """All units priced by the tier holding the period's total. A continuing segment costs
    P(carried + q) - P(carried) and can be negative: the earlier units moved to a cheaper tier."""
    if carried is None:
        row = _volume_row(p.tiers, quantity, carried=False)
        return PriceResult(row.amount, (row,))
    whole = _volume_row(p.tiers, carried + quantity, carried=False)
    already = _volume_row(p.tiers, carried, carried=True)
    return PriceResult(whole.amount + already.amount, (whole, already))


# -- percentage ----------------------------------------------------------------------------------


def _percentage_checked(
    p: PercentagePrice,
    quantity: Decimal,
    events: Sequence[Decimal] | None,
    carried: Decimal | None,
    carried_events: Sequence[Decimal] | None,
) -> PriceResult:
    if events is None:
        raise PricingError.single("events", "is required for the percentage model")
    current = _event_list(events, "events")
    if sum(current, ZERO) != quantity:
        total = format_decimal(sum(current, ZERO))
        raise PricingError.single("quantity", f"must equal the sum of events ({total})")
    earlier = _event_list(carried_events or (), "carried_events")
    if carried is not None and sum(earlier, ZERO) != carried:
        total = format_decimal(sum(earlier, ZERO))
        raise PricingError.single("carried_quantity", f"must equal the sum of carried_events ({total})")
    return _percentage(p, earlier, current)


class _Allowance:
    """The free part of a percentage price: it lasts while both allowances that are set remain."""

    def __init__(self, p: PercentagePrice) -> None:
        self.active = p.free_events is not None or p.free_units is not None
        self.events_left = p.free_events
        self.units_left = p.free_units

    def take(self, quantity: Decimal) -> tuple[Decimal, bool]:
        """Consumes one event; returns (free units of it, whether the whole event was free)."""
        if self.active and (self.events_left == 0 or self.units_left == 0):
            self.active = False  # an allowance ran out: the free part is over for the period
        if not self.active:
            return ZERO, False
        if self.events_left is not None:
            self.events_left -= 1
        if self.units_left is None or quantity <= self.units_left:
            if self.units_left is not None:
                self.units_left -= quantity
            return quantity, True
        free, self.units_left, self.active = self.units_left, ZERO, False  # crosses the end
        return free, False


def _event_fee(
    p: PercentagePrice, chargeable: Decimal
) -> tuple[Decimal, Decimal, Literal["min", "max"] | None]:
    """(fee before clamping, amount paid, which bound clamped it)."""
    fee = p.fixed_amount + chargeable * p.rate / HUNDRED
    if p.min_per_event is not None and fee < p.min_per_event:
        return fee, p.min_per_event, "min"
    if p.max_per_event is not None and fee > p.max_per_event:
        return fee, p.max_per_event, "max"
    return fee, fee, None


def _percentage(p: PercentagePrice, earlier: Sequence[Decimal], current: Sequence[Decimal]) -> PriceResult:
    allowance = _Allowance(p)
    for quantity in earlier:  # only their consumption of the free allowances matters here
        allowance.take(quantity)
    rows: list[BreakdownRow] = []
    total = ZERO
    for index, quantity in enumerate(current):
        free, whole_free = allowance.take(quantity)
        if not quantity:
            rows.append(EventRow(index, quantity, "zero", ZERO, ZERO, ZERO, None, ZERO))
        elif whole_free:
            rows.append(EventRow(index, quantity, "free", quantity, ZERO, ZERO, None, ZERO))
        else:
            chargeable = quantity - free
            fee, amount, clamped = _event_fee(p, chargeable)
            status: EventStatus = "partly_free" if free else "charged"
            rows.append(EventRow(index, quantity, status, free, chargeable, fee, clamped, amount))
            total += amount
    return PriceResult(total, tuple(rows))


# -- flat ----------------------------------------------------------------------------------------


def _flat(p: FlatPrice, carried: Decimal | None) -> PriceResult:
    amount = p.amount if carried is None else ZERO
    return PriceResult(amount, (FlatRow(amount, charged=carried is None),))
