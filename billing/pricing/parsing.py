"""`parse_price`: one entry of a profile's `prices` list -> a typed, validated `Price`.

Every problem is collected (not just the first) and reported as a `FieldError` addressed from
`path`, e.g. `prices[2].tiers[1].up_to: must be greater than 1000`.

The keys each model accepts are declared once, in `PRICE_FIELDS` / `TIER_FIELDS`; the JSON Schema of
the profile document (schema.py) is generated from the same declarations.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from common.money import InvalidDecimal, parse_decimal

from .errors import FieldError, PricingError, join_path, sorted_errors
from .formatting import format_decimal
from .prices import (
    MODELS,
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

__all__ = ["CODE_PATTERN", "PRICE_FIELDS", "RATE_TIER_FIELDS", "TIER_FIELDS", "FieldSpec", "parse_price"]

Kind = Literal["amount", "percent", "count", "up_to", "tiers", "rate_tiers", "code", "model", "proration"]

CODE_PATTERN = "^[-a-zA-Z0-9_]+$"  # Django's SlugField, as used for SKU and profile codes
CODE_MAX_LENGTH = 64
_CODE = re.compile(CODE_PATTERN, re.ASCII)
HUNDRED = Decimal(100)


@dataclass(frozen=True)
class FieldSpec:
    kind: Kind
    required: bool = False


_COMMON = {"sku": FieldSpec("code"), "model": FieldSpec("model", required=True)}
_MODEL_FIELDS: dict[str, dict[str, FieldSpec]] = {
    "per_unit": {"unit_amount": FieldSpec("amount", True), "free_units": FieldSpec("amount")},
    "graduated": {"tiers": FieldSpec("tiers", True)},
    "graduated_percentage": {"tiers": FieldSpec("rate_tiers", True)},
    "volume": {"tiers": FieldSpec("tiers", True)},
    "package": {
        "package_size": FieldSpec("amount", True),
        "package_amount": FieldSpec("amount", True),
        "free_units": FieldSpec("amount"),
    },
    "percentage": {
        "rate": FieldSpec("percent", True),
        "fixed_amount": FieldSpec("amount"),
        "free_events": FieldSpec("count"),
        "free_units": FieldSpec("amount"),
        "min_per_event": FieldSpec("amount"),
        "max_per_event": FieldSpec("amount"),
    },
    "flat": {"amount": FieldSpec("amount", True), "proration": FieldSpec("proration")},
}
PRORATIONS = ("days", "none")
# The keys each model accepts (`sku` is optional here; a profile document requires it).
PRICE_FIELDS: dict[str, dict[str, FieldSpec]] = {
    model: {**_COMMON, **fields} for model, fields in _MODEL_FIELDS.items()
}
TIER_FIELDS = {
    "up_to": FieldSpec("up_to", True),
    "unit_amount": FieldSpec("amount", True),
    "flat_amount": FieldSpec("amount"),
}
RATE_TIER_FIELDS = {
    "up_to": FieldSpec("up_to", True),
    "rate": FieldSpec("percent", True),
    "flat_amount": FieldSpec("amount"),
}
assert tuple(PRICE_FIELDS) == MODELS


def parse_price(entry: Mapping[str, Any], *, path: str = "price") -> Price:
    """The typed price for `entry` (with or without `sku`), or `PricingError` listing every problem."""
    reader = Reader()
    price = reader.price(entry, path)
    if reader.errors or price is None:
        raise PricingError(sorted_errors(reader.errors or [FieldError(path, "is invalid")]))
    return price


class Reader:
    """Collects `FieldError`s while reading; each method returns None where the value was invalid."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def error(self, path: str, message: str) -> None:
        self.errors.append(FieldError(path, message))

    # -- scalars -------------------------------------------------------------------------------

    def decimal(self, value: Any, path: str) -> Decimal | None:
        try:
            return parse_decimal(value, field=path)
        except InvalidDecimal as err:
            self.error(path, err.message)
            return None

    def amount(self, value: Any, path: str) -> Decimal | None:
        """A non-negative decimal."""
        result = self.decimal(value, path)
        if result is not None and result < 0:
            self.error(path, "must not be negative")
            return None
        return result

    def positive(self, value: Any, path: str) -> Decimal | None:
        result = self.amount(value, path)
        if result is not None and result == 0:
            self.error(path, "must be greater than 0")
            return None
        return result

    def percent(self, value: Any, path: str) -> Decimal | None:
        result = self.decimal(value, path)
        if result is not None and not ZERO <= result <= HUNDRED:
            self.error(path, "must be between 0 and 100")
            return None
        return result

    def count(self, value: Any, path: str) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(path, "must be an integer")
            return None
        if value < 0:
            self.error(path, "must not be negative")
            return None
        return int(value)

    def code(self, value: Any, path: str) -> str | None:
        if not isinstance(value, str):
            self.error(path, "must be a string")
            return None
        if not _CODE.fullmatch(value) or len(value) > CODE_MAX_LENGTH:
            self.error(path, f"must be a code of 1 to {CODE_MAX_LENGTH} letters, digits, '-' or '_'")
            return None
        return value

    # -- structure -----------------------------------------------------------------------------

    def mapping(self, value: Any, path: str) -> Mapping[str, Any] | None:
        if not isinstance(value, Mapping):
            self.error(path, "must be an object")
            return None
        return value

    def keys(self, entry: Mapping[str, Any], path: str, fields: Mapping[str, FieldSpec]) -> bool:
        """Refuses unknown keys and reports missing required ones; True when all is well."""
        ok = True
        for key in entry:
            if key not in fields:
                self.error(join_path(path, str(key)), "unknown key")
                ok = False
        for key, spec in fields.items():
            if spec.required and key not in entry:
                self.error(join_path(path, key), "is required")
                ok = False
        return ok

    # -- prices --------------------------------------------------------------------------------

    def price(self, value: Any, path: str) -> Price | None:
        entry = self.mapping(value, path)
        if entry is None:
            return None
        model = entry.get("model")
        if "model" not in entry:
            self.error(join_path(path, "model"), "is required")
            return None
        if not isinstance(model, str) or model not in PRICE_FIELDS:
            self.error(join_path(path, "model"), "must be one of: " + ", ".join(MODELS))
            return None
        before = len(self.errors)
        self.keys(entry, path, PRICE_FIELDS[model])
        sku = self.code(entry["sku"], join_path(path, "sku")) if "sku" in entry else None
        price = self._model(model, entry, path, sku)
        return price if len(self.errors) == before else None

    def _get(self, entry: Mapping[str, Any], key: str, path: str, kind: Kind) -> Any:
        """The parsed value of `entry[key]` (None when absent or invalid)."""
        if key not in entry:
            return None
        field = join_path(path, key)
        value = entry[key]
        if kind == "amount":
            return self.amount(value, field)
        if kind == "percent":
            return self.percent(value, field)
        if kind == "count":
            return self.count(value, field)
        if kind == "proration":
            if value not in PRORATIONS:
                self.error(field, "must be one of: " + ", ".join(PRORATIONS))
                return None
            return value
        raise AssertionError(kind)  # pragma: no cover

    def _model(self, model: str, entry: Mapping[str, Any], path: str, sku: str | None) -> Price | None:
        def get(key: str) -> Any:
            return self._get(entry, key, path, PRICE_FIELDS[model][key].kind)

        if model == "per_unit":
            unit_amount, free = get("unit_amount"), get("free_units")
            if unit_amount is None:
                return None
            return PerUnitPrice(unit_amount=unit_amount, free_units=free or ZERO, sku=sku)
        if model in ("graduated", "volume"):
            tiers = self.tiers(entry.get("tiers"), join_path(path, "tiers"), rates=False)
            if tiers is None:
                return None
            plain = tuple(t for t in tiers if isinstance(t, Tier))
            return GraduatedPrice(plain, sku) if model == "graduated" else VolumePrice(plain, sku)
        if model == "graduated_percentage":
            tiers = self.tiers(entry.get("tiers"), join_path(path, "tiers"), rates=True)
            if tiers is None:
                return None
            return GraduatedPercentagePrice(tuple(t for t in tiers if isinstance(t, RateTier)), sku)
        if model == "package":
            size_path = join_path(path, "package_size")
            size = self.positive(entry["package_size"], size_path) if "package_size" in entry else None
            amount, free = get("package_amount"), get("free_units")
            if size is None or amount is None:
                return None
            return PackagePrice(package_size=size, package_amount=amount, free_units=free or ZERO, sku=sku)
        if model == "percentage":
            return self._percentage(entry, path, sku, get)
        amount, proration = get("amount"), get("proration")
        return None if amount is None else FlatPrice(amount=amount, sku=sku, proration=proration or "days")

    def _percentage(self, entry: Mapping[str, Any], path: str, sku: str | None, get: Any) -> Price | None:
        rate, fixed = get("rate"), get("fixed_amount")
        low, high = get("min_per_event"), get("max_per_event")
        if low is not None and high is not None and low > high:
            self.error(
                join_path(path, "min_per_event"),
                f"must not be greater than max_per_event ({format_decimal(high)})",
            )
            return None
        if rate is None:
            return None
        return PercentagePrice(
            rate=rate,
            fixed_amount=fixed or ZERO,
            free_events=get("free_events"),
            free_units=get("free_units"),
            min_per_event=low,
            max_per_event=high,
            sku=sku,
        )

    def tiers(self, value: Any, path: str, *, rates: bool) -> list[Tier | RateTier] | None:
        """Tiers strictly ascending by `up_to`, the last (and only the last) open-ended (null)."""
        if not isinstance(value, list):
            self.error(path, "must be a list")
            return None
        if not value:
            self.error(path, "must not be empty")
            return None
        fields = RATE_TIER_FIELDS if rates else TIER_FIELDS
        before = len(self.errors)
        result: list[Tier | RateTier] = []
        previous: Decimal | None = ZERO
        last = len(value) - 1
        for index, raw in enumerate(value):
            tier_path = join_path(path, index)
            tier = self.mapping(raw, tier_path)
            if tier is None:
                previous = None
                continue
            self.keys(tier, tier_path, fields)
            up_to = self._up_to(tier, tier_path, previous, is_last=index == last)
            previous = up_to if up_to is not None else None
            flat = self._get(tier, "flat_amount", tier_path, "amount")
            if rates:
                rate = self._get(tier, "rate", tier_path, "percent")
                if rate is not None:
                    result.append(RateTier(up_to=up_to, rate=rate, flat_amount=flat or ZERO))
            else:
                unit = self._get(tier, "unit_amount", tier_path, "amount")
                if unit is not None:
                    result.append(Tier(up_to=up_to, unit_amount=unit, flat_amount=flat or ZERO))
        return result if len(self.errors) == before else None

    def _up_to(
        self, tier: Mapping[str, Any], tier_path: str, previous: Decimal | None, *, is_last: bool
    ) -> Decimal | None:
        """Checks `up_to` against the previous tier's (None: unknown, skip the comparison)."""
        if "up_to" not in tier:
            return None
        field = join_path(tier_path, "up_to")
        raw = tier["up_to"]
        if raw is None:
            if not is_last:
                self.error(field, "only the last tier may be open-ended (null)")
            return None
        up_to = self.decimal(raw, field)
        if up_to is None:
            return None
        if is_last:
            self.error(field, "the last tier must be open-ended (null)")
        elif previous is not None and up_to <= previous:
            self.error(field, f"must be greater than {format_decimal(previous)}")
        return up_to
