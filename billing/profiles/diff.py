"""What a new profile body changes against an old one: per price (by SKU) and per discount (by code), the
fields added, removed or changed with their old and new values (tier fields as `tiers[1].up_to`), the
document's other settings, and a unified text diff of the two bodies' YAML renderings (`body_yaml`, the
one rendering the CLI and the portal show).

Amounts compare by value ("0.10" and "0.1" are the same price). `direction` says whether the change moves
any price against the customer (an increase) or in their favour (a decrease): amounts, rates and the
minimum spend up are increases; free units, free events and package sizes up are decreases; a price added
is an increase and one removed a decrease; a discount added or raised is a decrease. A change whose
direction depends on the usage (a tier boundary, a pricing model) counts as both: the backtest says what it
does to each bill."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import yaml

_MISSING: Any = object()
# Keys of a price entry or tier whose rise costs the customer more / less.
_COSTLIER = frozenset(
    {
        "unit_amount",
        "amount",
        "flat_amount",
        "package_amount",
        "rate",
        "fixed_amount",
        "min_per_event",
        "max_per_event",
    }
)
_CHEAPER = frozenset({"free_units", "free_events", "package_size"})
# Optional keys of a price whose absence means 0.
_ZERO_WHEN_ABSENT = frozenset({"free_units", "free_events", "fixed_amount", "min_per_event", "flat_amount"})
_TOP_ORDER = (
    "profile",
    "currency",
    "billing_cycle",
    "grace_hours",
    "backdating_days",
    "required_tags",
    "tax",
    "prices",
    "commitments",
    "discounts",
)
_PRICE_ORDER = ("sku", "model")


@dataclass(frozen=True)
class FieldChange:
    path: str  # relative to the price or discount (`unit_amount`, `tiers[1].up_to`), or the document
    old: Any  # None when added
    new: Any  # None when removed

    @property
    def kind(self) -> str:
        if self.old is None:
            return "added"
        if self.new is None:
            return "removed"
        return "changed"


@dataclass(frozen=True)
class EntryChange:
    """A price (key: its SKU) or a discount (key: its code) added, removed or changed."""

    key: str
    change: str  # added | removed | changed
    fields: tuple[FieldChange, ...] = ()


@dataclass(frozen=True)
class BodyDiff:
    prices: tuple[EntryChange, ...]
    discounts: tuple[EntryChange, ...]
    settings: tuple[FieldChange, ...]  # everything else (currency, tax.mode, commitments.minimum_spend, ...)
    text: str  # unified diff of the YAML renderings ("" when they are the same)
    any_increase: bool = False
    any_decrease: bool = False
    unchanged: bool = field(default=False)

    def as_dict(self) -> dict[str, Any]:
        def entries(items: tuple[EntryChange, ...]) -> list[dict[str, Any]]:
            return [
                {
                    "key": e.key,
                    "change": e.change,
                    "fields": [
                        {"path": f.path, "kind": f.kind, "old": f.old, "new": f.new} for f in e.fields
                    ],
                }
                for e in items
            ]

        return {
            "prices": entries(self.prices),
            "discounts": entries(self.discounts),
            "settings": [{"path": f.path, "kind": f.kind, "old": f.old, "new": f.new} for f in self.settings],
            "text": self.text,
            "any_increase": self.any_increase,
            "any_decrease": self.any_decrease,
        }


def _keyed(value: Any, order: tuple[str, ...]) -> Any:
    """A mapping with the keys of `order` first, then the others sorted; anything else as it is."""
    if not isinstance(value, dict):
        return value
    keys = [k for k in order if k in value] + sorted(k for k in value if k not in order)
    return {k: value[k] for k in keys}


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, date):
        return value.isoformat()
    return value


def body_yaml(body: dict[str, Any]) -> str:
    """A profile body as YAML, keys in a reading order (profile, currency, ..., prices with sku and model
    first, discounts with their code first), the same for every body so that two renderings diff line by
    line."""
    ordered = _keyed(_plain(body), _TOP_ORDER)
    for name, order in (("prices", _PRICE_ORDER), ("discounts", ("code", "name"))):
        if isinstance(ordered.get(name), list):
            ordered[name] = [_keyed(entry, order) for entry in ordered[name]]
    for price in ordered.get("prices") or []:
        if isinstance(price, dict) and isinstance(price.get("tiers"), list):
            price["tiers"] = [_keyed(tier, ("up_to",)) for tier in price["tiers"]]
    return yaml.safe_dump(ordered, sort_keys=False, allow_unicode=True, default_flow_style=False)


def _same(a: Any, b: Any) -> bool:
    if a is _MISSING or b is _MISSING:
        return a is b
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return bool(a == b)
    if isinstance(a, str | int | Decimal) and isinstance(b, str | int | Decimal):
        try:
            return Decimal(str(a)) == Decimal(str(b))
        except InvalidOperation:
            return str(a) == str(b)
    return bool(a == b)


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Leaf values by path (`tiers[1].up_to`); a list of scalars (a discount's `skus`) is one leaf."""
    out: dict[str, Any] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(value, list) and any(isinstance(i, dict | list) for i in value):
        for index, item in enumerate(value):
            out.update(_flatten(item, f"{prefix}[{index}]"))
    else:
        out[prefix] = value
    return out


def _field_changes(old: Any, new: Any, *, skip: frozenset[str] = frozenset()) -> tuple[FieldChange, ...]:
    a, b = _flatten(old), _flatten(new)
    changes: list[FieldChange] = []
    for path in list(dict.fromkeys([*a, *b])):
        if path in skip:
            continue
        before, after = a.get(path, _MISSING), b.get(path, _MISSING)
        if not _same(before, after):
            changes.append(
                FieldChange(
                    path, None if before is _MISSING else before, None if after is _MISSING else after
                )
            )
    return tuple(changes)


def _entries(old: Any, new: Any, key: str) -> tuple[EntryChange, ...]:
    def by_key(items: Any) -> dict[str, dict[str, Any]]:
        if not isinstance(items, list):
            return {}
        return {str(i.get(key)): i for i in items if isinstance(i, dict)}

    a, b = by_key(old), by_key(new)
    result: list[EntryChange] = []
    for k in list(dict.fromkeys([*a, *b])):
        if k not in b:
            result.append(EntryChange(k, "removed", _field_changes(a[k], {}, skip=frozenset({key}))))
        elif k not in a:
            result.append(EntryChange(k, "added", _field_changes({}, b[k], skip=frozenset({key}))))
        else:
            fields = _field_changes(a[k], b[k], skip=frozenset({key}))
            if fields:
                result.append(EntryChange(k, "changed", fields))
    return tuple(result)


def _leaf(path: str) -> str:
    return path.rsplit(".", 1)[-1]


def _moves(price: EntryChange) -> tuple[bool, bool]:
    """(increase, decrease) of one price's change (see the module docstring)."""
    if price.change == "added":
        return True, False
    if price.change == "removed":
        return False, True
    up = down = False
    for f in price.fields:
        leaf = _leaf(f.path)
        before, after = f.old, f.new
        if leaf in _ZERO_WHEN_ABSENT:  # absent: nothing free, no fixed part
            before, after = "0" if before is None else before, "0" if after is None else after
        if leaf not in _COSTLIER | _CHEAPER or before is None or after is None:
            # a model, a tier boundary, a tier added or removed, a proration: depends on the usage
            up = down = True
            continue
        try:
            rise = Decimal(str(after)) > Decimal(str(before))
        except InvalidOperation:
            up = down = True
            continue
        costlier = rise if leaf in _COSTLIER else not rise
        up, down = up or costlier, down or not costlier
    return up, down


def profile_body_diff(*, old: dict[str, Any], new: dict[str, Any]) -> BodyDiff:
    """What `new` changes against `old` (see the module docstring)."""
    prices = _entries(old.get("prices"), new.get("prices"), "sku")
    discounts = _entries(old.get("discounts"), new.get("discounts"), "code")
    rest_old = {k: v for k, v in old.items() if k not in ("prices", "discounts")}
    rest_new = {k: v for k, v in new.items() if k not in ("prices", "discounts")}
    settings = _field_changes(rest_old, rest_new)
    up = down = False
    for price in prices:
        i, d = _moves(price)
        up, down = up or i, down or d
    for discount in discounts:
        if discount.change == "added":
            down = True
        elif discount.change == "removed":
            up = True
        else:  # a discount changed: its reach or size may go either way
            up = down = True
    for f in settings:
        if f.path == "commitments.minimum_spend":
            if f.old is None or f.new is None:
                up, down = up or f.old is None, down or f.new is None
            else:
                rise = Decimal(str(f.new)) > Decimal(str(f.old))
                up, down = up or rise, down or not rise
        elif f.path in ("currency", "tax.mode"):
            up = down = True
    text = "".join(
        difflib.unified_diff(
            body_yaml(old).splitlines(keepends=True),
            body_yaml(new).splitlines(keepends=True),
            fromfile="in force",
            tofile="draft",
        )
    )
    return BodyDiff(
        prices=prices,
        discounts=discounts,
        settings=settings,
        text=text,
        any_increase=up,
        any_decrease=down,
        unchanged=not (prices or discounts or settings),
    )
