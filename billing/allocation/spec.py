"""An allocation rule version's body, validated (pure: no Django). Amounts are strings.

{"source": {"kind": "amount", "amount": "1200.00", "currency": "EUR"}   a fixed cost per period
         | {"kind": "invoice"}                                          the tenant's invoice total
         | {"kind": "sku", "sku": "api_calls"},                         the tenant's invoiced cost of a SKU
 "method": "even" | "proportional" | "usage" | "fixed",
 "targets": ["project:web", "team:data-platform"],    a project by code, or a team (cost centre)
 "percentages": {"project:web": "60"},                fixed only; below 100 leaves an unallocated line
 "metric_sku": "api_calls"}                           usage only: weights = quantity of this SKU"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from billing.allocation.shares import METHODS
from common.money import currency_exponent, is_known_currency

SOURCES = ("amount", "invoice", "sku")


class SpecError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class RuleSpec:
    source: str
    amount: Decimal | None
    currency: str | None
    source_sku: str | None
    method: str
    targets: tuple[str, ...]
    percentages: dict[str, Decimal]
    metric_sku: str | None


def _decimal(value: Any, field: str) -> Decimal:
    if not isinstance(value, str):
        raise SpecError(field, 'a decimal written as a string, e.g. "12.50"')
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise SpecError(field, f"{value!r} is not a decimal") from None
    if not number.is_finite() or number < 0:
        raise SpecError(field, "a finite decimal, not negative")
    return number


def parse_spec(body: Any) -> RuleSpec:
    if not isinstance(body, dict):
        raise SpecError("body", "an object")
    source = body.get("source")
    if not isinstance(source, dict) or source.get("kind") not in SOURCES:
        raise SpecError("source.kind", f"one of {', '.join(SOURCES)}")
    kind = str(source["kind"])
    amount = _decimal(source.get("amount"), "source.amount") if kind == "amount" else None
    currency = source.get("currency") if kind == "amount" else None
    if kind == "amount" and not (isinstance(currency, str) and is_known_currency(currency)):
        raise SpecError("source.currency", "an ISO 4217 code")
    if amount is not None and isinstance(currency, str):
        digits = currency_exponent(currency)
        if amount != amount.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP):
            raise SpecError("source.amount", f"at most {digits} decimal(s) in {currency}")
    source_sku = source.get("sku") if kind == "sku" else None
    if kind == "sku" and not (isinstance(source_sku, str) and source_sku):
        raise SpecError("source.sku", "a SKU code")
    method = body.get("method")
    if method not in METHODS:
        raise SpecError("method", f"one of {', '.join(METHODS)}")
    targets = body.get("targets")
    if not isinstance(targets, list) or not targets:
        raise SpecError("targets", 'a non-empty list such as ["project:web", "team:data"]')
    for i, target in enumerate(targets):
        if (
            not isinstance(target, str)
            or target.split(":", 1)[0] not in ("project", "team")
            or ":" not in target
        ):
            raise SpecError(f"targets[{i}]", "project:<code> or team:<cost centre>")
        if not target.split(":", 1)[1]:
            raise SpecError(f"targets[{i}]", "a code after the colon")
    if len(set(targets)) != len(targets):
        raise SpecError("targets", "each target once")
    percentages: dict[str, Decimal] = {}
    if method == "fixed":
        raw = body.get("percentages")
        if not isinstance(raw, dict):
            raise SpecError("percentages", "an object of target -> percent")
        for target, value in raw.items():
            if target not in targets:
                raise SpecError(f"percentages.{target}", "not one of the targets")
            percentages[target] = _decimal(value, f"percentages.{target}")
        if sum(percentages.values(), Decimal(0)) > 100:
            raise SpecError("percentages", "add up to at most 100")
    metric_sku = body.get("metric_sku") if method == "usage" else None
    if method == "usage" and not (isinstance(metric_sku, str) and metric_sku):
        raise SpecError("metric_sku", "the SKU whose quantity weighs the targets")
    return RuleSpec(
        source=kind,
        amount=amount,
        currency=currency,
        source_sku=source_sku,
        method=str(method),
        targets=tuple(targets),
        percentages=percentages,
        metric_sku=metric_sku,
    )


def body_sha256(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def body_build(
    *,
    source_kind: str,
    method: str,
    targets: list[str],
    amount: str = "",
    currency: str = "",
    source_sku: str = "",
    percentages: dict[str, str] | None = None,
    metric_sku: str = "",
) -> dict[str, Any]:
    """The body of these inputs as `parse_spec` reads it (a form's fields, all text), holding only the
    keys the source and the method use; nothing is validated here (`parse_spec` does, naming fields)."""
    source: dict[str, Any] = {"kind": source_kind}
    if source_kind == "amount":
        source |= {"amount": amount, "currency": currency}
    elif source_kind == "sku":
        source["sku"] = source_sku
    body: dict[str, Any] = {"source": source, "method": method, "targets": targets}
    if method == "fixed":
        body["percentages"] = dict(percentages or {})
    if method == "usage":
        body["metric_sku"] = metric_sku
    return body
