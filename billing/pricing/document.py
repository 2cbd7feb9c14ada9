"""Profile documents: validation into a typed `ProfileDocument`, canonical JSON and its SHA-256.

`validate_document` reports *every* problem at once: the JSON Schema's structural errors first
(schema.py), then the semantic rules the schema cannot express. A semantic error at a field that
already has a structural error (or inside one) is not repeated.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast

from common.money import UnknownCurrency, currency_exponent

from .errors import DocumentError, FieldError, join_path, sorted_errors
from .parsing import HUNDRED, Reader
from .prices import Commitment, Discount, Price, ProfileDocument, Tax
from .schema import schema_errors

__all__ = [
    "DEFAULT_BACKDATING_DAYS",
    "DEFAULT_GRACE_HOURS",
    "canonical_json",
    "document_sha256",
    "validate_document",
]

DEFAULT_GRACE_HOURS = 72
DEFAULT_BACKDATING_DAYS = 35


def validate_document(doc: Any, *, known_skus: Collection[str] | None = None) -> ProfileDocument:
    """The typed document, or `DocumentError` listing every error (`prices[2].tiers[1].up_to: ...`).

    `known_skus`: when given, every priced SKU must be one of them. Dates may be ISO strings or
    `datetime.date` objects (as YAML loads them)."""
    plain = _plain(doc)
    structural = schema_errors(plain)
    checker = _Semantics(known_skus)
    parsed = checker.document(plain) if isinstance(plain, dict) else None
    errors = structural + [e for e in checker.errors if not _covered(e.path, structural)]
    if errors or parsed is None:
        raise DocumentError(sorted_errors(errors or [FieldError("$", "must be an object")]))
    return parsed


def canonical_json(doc: Any) -> str:
    """Sorted keys, no spaces, UTF-8 text (not \\u-escaped). Dates become `YYYY-MM-DD` and Decimals
    their string; floats are refused (they have no exact canonical form)."""
    return json.dumps(_canonical(_plain(doc)), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def document_sha256(doc: Any) -> str:
    return hashlib.sha256(canonical_json(doc).encode("utf-8")).hexdigest()


def _plain(value: Any) -> Any:
    """JSON-shaped copy: dates -> ISO strings, tuples -> lists; everything else as is."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, datetime):
        return value.isoformat()  # not a date: the schema's date pattern refuses it
    if isinstance(value, date):
        return value.isoformat()
    return value


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _canonical(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_canonical(item) for item in value]
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        raise TypeError("floats are not allowed in a profile document: write amounts as strings")
    return value


def _covered(path: str, structural: list[FieldError]) -> bool:
    """Whether `path` already has a structural error, at itself or at an enclosing field."""
    for error in structural:
        if error.path in (path, "$") or path.startswith((error.path + ".", error.path + "[")):
            return True
    return False


class _Semantics(Reader):
    """The rules the schema cannot express. Reads defensively: the schema reports shape errors."""

    def __init__(self, known_skus: Collection[str] | None) -> None:
        super().__init__()
        self.known_skus = known_skus
        self.named_skus: set[str] = set()  # every sku a price entry names, valid entry or not

    def document(self, doc: dict[str, Any]) -> ProfileDocument | None:
        currency = self._currency(doc.get("currency"))
        prices = self._prices(doc.get("prices"))
        tax = doc.get("tax")
        commitments = self._commitments(doc.get("commitments", {}))
        discounts = self._discounts(doc.get("discounts", []))
        if self.errors or currency is None or prices is None or commitments is None or discounts is None:
            return None
        if not isinstance(tax, dict):
            return None  # the schema reported it
        try:
            return ProfileDocument(
                profile=doc["profile"],
                currency=currency,
                billing_cycle=doc["billing_cycle"],
                grace_hours=doc.get("grace_hours", DEFAULT_GRACE_HOURS),
                backdating_days=doc.get("backdating_days", DEFAULT_BACKDATING_DAYS),
                required_tags=tuple(doc.get("required_tags", [])),
                tax=Tax(jurisdiction=tax.get("jurisdiction"), mode=tax["mode"]),
                prices=prices,
                commitments=commitments,
                discounts=discounts,
            )
        except (KeyError, TypeError):
            return None  # a structural error, reported by the schema

    def _currency(self, value: Any) -> str | None:
        if not isinstance(value, str):
            return None
        try:
            currency_exponent(value)
        except UnknownCurrency as err:
            self.error("currency", str(err))
            return None
        return value

    def _prices(self, value: Any) -> dict[str, Price] | None:
        if not isinstance(value, list):
            return None
        prices: dict[str, Price] = {}
        first_at: dict[str, int] = {}
        for index, entry in enumerate(value):
            path = join_path("prices", index)
            price = self.price(entry, path)
            sku = entry.get("sku") if isinstance(entry, dict) else None
            if not isinstance(sku, str):
                continue
            sku_path = join_path(path, "sku")
            self.named_skus.add(sku)
            if sku in first_at:
                self.error(sku_path, f"duplicate sku {sku!r} (also priced at prices[{first_at[sku]}])")
                continue
            first_at[sku] = index
            if self.known_skus is not None and sku not in self.known_skus:
                self.error(sku_path, f"unknown sku {sku!r}")
            if price is not None:
                prices[sku] = price
        return prices

    def _commitments(self, value: Any) -> Commitment | None:
        if not isinstance(value, dict):
            return Commitment()
        if "minimum_spend" not in value:
            return Commitment()
        spend = self.amount(value["minimum_spend"], "commitments.minimum_spend")
        return None if spend is None else Commitment(minimum_spend=spend)

    def _discounts(self, value: Any) -> tuple[Discount, ...] | None:
        if not isinstance(value, list):
            return ()
        before = len(self.errors)
        discounts: list[Discount] = []
        seen: dict[str, int] = {}
        for index, entry in enumerate(value):
            if not isinstance(entry, dict):
                continue
            path = join_path("discounts", index)
            code = entry.get("code")
            if isinstance(code, str):
                if code in seen:
                    message = f"duplicate discount code {code!r} (also discounts[{seen[code]}])"
                    self.error(join_path(path, "code"), message)
                seen.setdefault(code, index)
            discount = self._discount(entry, path)
            if discount is not None:
                discounts.append(discount)
        return tuple(discounts) if len(self.errors) == before else None

    def _discount(self, entry: dict[str, Any], path: str) -> Discount | None:
        before = len(self.errors)
        percent = amount = None
        if ("percent" in entry) == ("amount" in entry):
            self.error(path, "needs exactly one of percent or amount")
        elif "percent" in entry:
            percent = self.decimal(entry["percent"], join_path(path, "percent"))
            if percent is not None and not Decimal(0) < percent <= HUNDRED:
                self.error(join_path(path, "percent"), "must be greater than 0 and at most 100")
        else:
            amount = self.positive(entry["amount"], join_path(path, "amount"))
        skus = entry.get("skus")
        if isinstance(skus, list):
            for index, sku in enumerate(skus):
                if isinstance(sku, str) and sku not in self.named_skus:
                    sku_path = join_path(join_path(path, "skus"), index)
                    self.error(sku_path, f"{sku!r} is not priced in this document")
        valid_from = self._date(entry.get("valid_from"), join_path(path, "valid_from"))
        valid_to = self._date(entry.get("valid_to"), join_path(path, "valid_to"))
        if valid_from is not None and valid_to is not None and valid_to < valid_from:
            message = f"must not be before valid_from ({valid_from.isoformat()})"
            self.error(join_path(path, "valid_to"), message)
        if len(self.errors) != before:
            return None
        return Discount(
            code=cast(str, entry.get("code")),
            percent=percent,
            amount=amount,
            skus=tuple(skus) if isinstance(skus, list) else None,
            valid_from=valid_from,
            valid_to=valid_to,
            priority=entry.get("priority", 0),
            stackable=entry.get("stackable", False),
            name=entry.get("name") or "",
        )

    def _date(self, value: Any, path: str) -> date | None:
        if not isinstance(value, str):
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            self.error(path, "must be a real date (YYYY-MM-DD)")
            return None
