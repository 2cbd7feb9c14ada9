"""The JSON Schema (Draft 2020-12) of a profile document, and its errors as `FieldError`s.

The schema checks structure: keys, types, enums, required fields. Value rules it cannot express
(tiers ascending, currencies, cross-references, decimal syntax) are checked in document.py. The keys
of each pricing model come from parsing.PRICE_FIELDS, so the two can never disagree.

Two deliberate departures from plain JSON typing, done with a custom type checker:
- `number` accepts `int` and `Decimal` (documents parsed with `parse_float=Decimal`) but never
  `float`, and `integer` accepts only `int`: no float enters a profile, even `72.0`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from jsonschema import Draft202012Validator, validators

from common.money import InvalidDecimal, parse_decimal

from .errors import FieldError, join_path
from .parsing import CODE_MAX_LENGTH, CODE_PATTERN, PRICE_FIELDS, RATE_TIER_FIELDS, TIER_FIELDS, FieldSpec

__all__ = ["PROFILE_SCHEMA", "schema_errors"]

DATE_PATTERN = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
JURISDICTION_PATTERN = "^[A-Z]{2}(-[A-Z0-9]{1,3})?$"
CURRENCY_PATTERN = "^[A-Z]{3}$"
_PATTERN_MESSAGES = {
    CODE_PATTERN: f"must be a code of 1 to {CODE_MAX_LENGTH} letters, digits, '-' or '_'",
    DATE_PATTERN: "must be a date (YYYY-MM-DD)",
    JURISDICTION_PATTERN: "must be an ISO 3166 country or subdivision code such as DE or US-CA",
    CURRENCY_PATTERN: "must be an ISO 4217 currency code such as EUR",
}

_DECIMAL: dict[str, Any] = {"type": ["string", "number"]}
_CODE: dict[str, Any] = {"type": "string", "pattern": CODE_PATTERN, "maxLength": CODE_MAX_LENGTH}
_DATE: dict[str, Any] = {"type": "string", "pattern": DATE_PATTERN}


def _field_schema(spec: FieldSpec) -> dict[str, Any]:
    if spec.kind in ("amount", "percent"):
        return _DECIMAL
    if spec.kind == "count":
        return {"type": "integer", "minimum": 0}
    if spec.kind == "up_to":
        return {"type": ["string", "number", "null"]}
    if spec.kind == "code":
        return _CODE
    if spec.kind == "model":
        return {"enum": list(PRICE_FIELDS)}
    if spec.kind == "proration":
        return {"enum": ["days", "none"]}
    tier_fields = RATE_TIER_FIELDS if spec.kind == "rate_tiers" else TIER_FIELDS
    return {"type": "array", "minItems": 1, "items": _object(tier_fields)}


def _object(fields: Mapping[str, FieldSpec]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {name: _field_schema(spec) for name, spec in fields.items()},
        "required": [name for name, spec in fields.items() if spec.required],
        "additionalProperties": False,
    }


def _price_schema() -> dict[str, Any]:
    """`sku` and `model` first; then, once the model is known, exactly that model's keys."""
    return {
        "type": "object",
        "required": ["sku", "model"],
        "properties": {"sku": _CODE, "model": {"enum": list(PRICE_FIELDS)}},
        "allOf": [
            {
                "if": {"properties": {"model": {"const": model}}, "required": ["model"]},
                "then": _object(fields),
            }
            for model, fields in PRICE_FIELDS.items()
        ],
    }


PROFILE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://billing.example/schemas/profile-document.json",
    "title": "Billing profile document",
    "type": "object",
    "required": ["profile", "currency", "billing_cycle", "tax", "prices"],
    "additionalProperties": False,
    "properties": {
        "profile": _CODE,
        "currency": {"type": "string", "pattern": CURRENCY_PATTERN},
        "billing_cycle": {"enum": ["monthly", "quarterly", "yearly"]},
        "grace_hours": {"type": "integer", "minimum": 0},
        "backdating_days": {"type": "integer", "minimum": 0},
        "required_tags": {
            "type": "array",
            "items": {"type": "string", "minLength": 1, "maxLength": 64},
            "uniqueItems": True,
        },
        "tax": {
            "type": "object",
            "required": ["mode"],
            "additionalProperties": False,
            "properties": {
                "jurisdiction": {"type": "string", "pattern": JURISDICTION_PATTERN},
                "mode": {"enum": ["exclusive", "inclusive"]},
            },
        },
        "prices": {"type": "array", "minItems": 1, "items": _price_schema()},
        "commitments": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"minimum_spend": _DECIMAL},
        },
        "discounts": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["code"],
                "additionalProperties": False,
                "properties": {
                    "code": _CODE,
                    "name": {"type": "string", "minLength": 1, "maxLength": 100},
                    "percent": _DECIMAL,
                    "amount": _DECIMAL,
                    "skus": {"type": "array", "items": _CODE, "minItems": 1, "uniqueItems": True},
                    "valid_from": _DATE,
                    "valid_to": _DATE,
                    "priority": {"type": "integer"},
                    "stackable": {"type": "boolean"},
                },
            },
        },
    },
}


def _is_number(checker: Any, instance: Any) -> bool:
    return isinstance(instance, int | Decimal) and not isinstance(instance, bool)


def _is_integer(checker: Any, instance: Any) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


_TYPE_CHECKER = Draft202012Validator.TYPE_CHECKER.redefine_many(
    {"number": _is_number, "integer": _is_integer}
)
_extend: Any = validators.extend  # untyped in types-jsonschema
_Validator = _extend(Draft202012Validator, type_checker=_TYPE_CHECKER)
Draft202012Validator.check_schema(PROFILE_SCHEMA)
_VALIDATOR = _Validator(PROFILE_SCHEMA)

_TYPE_NAMES = {
    "object": "an object",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "boolean": "true or false",
    "null": "null",
}


def _type_message(expected: str | list[str], instance: Any, path: str) -> str:
    types = [expected] if isinstance(expected, str) else list(expected)
    if "number" in types:
        if "null" in types and not isinstance(instance, float):
            return "must be a decimal string or null"
        try:
            parse_decimal(instance, field=path)
        except InvalidDecimal as err:
            return err.message
        return "must be a decimal string"  # pragma: no cover - only non-numbers reach here
    return "must be " + " or ".join(_TYPE_NAMES.get(t, t) for t in types)


def _path(parts: Iterable[str | int]) -> str:
    path = ""
    for part in parts:
        path = join_path(path, part)
    return path


def _convert(error: Any) -> list[FieldError]:
    path = _path(error.absolute_path)
    kind, value, instance = error.validator, error.validator_value, error.instance
    where = path or "$"
    if kind == "required":
        return [FieldError(join_path(path, k), "is required") for k in value if k not in instance]
    if kind == "additionalProperties":
        known = error.schema.get("properties", {})
        return [FieldError(join_path(path, str(k)), "unknown key") for k in instance if k not in known]
    if kind == "type":
        return [FieldError(where, _type_message(value, instance, where))]
    if kind == "enum":
        return [FieldError(where, "must be one of: " + ", ".join(str(v) for v in value))]
    if kind == "minItems":
        return [FieldError(where, "must not be empty" if value == 1 else f"must have at least {value} items")]
    if kind == "minLength":
        message = "must not be empty" if value == 1 else f"must be at least {value} characters"
        return [FieldError(where, message)]
    if kind == "maxLength":
        return [FieldError(where, f"must be at most {value} characters")]
    if kind == "minimum":
        return [FieldError(where, "must not be negative" if value == 0 else f"must be at least {value}")]
    if kind == "pattern":
        return [FieldError(where, _PATTERN_MESSAGES.get(value, f"must match {value}"))]
    if kind == "uniqueItems":
        return [FieldError(where, "must not contain duplicates")]
    return [FieldError(where, error.message)]  # pragma: no cover - every keyword used is mapped above


def schema_errors(document: Any) -> list[FieldError]:
    """Every structural error of `document` (dates already turned into ISO strings)."""
    errors: list[FieldError] = []
    for error in _VALIDATOR.iter_errors(document):
        errors.extend(_convert(error))
    return errors
