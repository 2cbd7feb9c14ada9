"""Parsing and canonical form of one usage event (no database access). Each failure raises
`EventRejected` with a machine-readable `Reject` reason; the ingest service turns it into that event's
`rejected` outcome without touching the rest of the batch."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings

from common.money import WIDE_CONTEXT  # 26 + 12 digits: the default 28-digit context would raise

QUANTUM = Decimal("1e-12")
# One event's quantity is below 10^15 (and has at most 12 decimals): an hourly aggregate, stored as
# numeric(38, 12) (below 10^26), can then add up 10^11 events of one SKU in one hour (ingest's rate limit
# lets a tenant send at most 7.2 * 10^7 an hour), and no sum that rating or an estimate stores overflows
# its column. docs/ingest.md, "Bounds", derives the figures.
MAX_QUANTITY = Decimal(10) ** 15
MAX_QUANTITY_INTEGER_DIGITS = 15
# A quantity string: ASCII digits, an optional minus sign and an optional fraction (no exponent, no "_",
# no other digits, no leading "+", no trailing dot).
_QUANTITY = re.compile(r"-?[0-9]+(?:\.[0-9]+)?", re.ASCII)
# RFC 3339 date-time: full date, "T", full time with at most microseconds, and "Z" or a numeric offset.
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?(?:Z|[+-][0-9]{2}:[0-9]{2})",
    re.ASCII,
)
MAX_TIMESTAMP_LENGTH = 64


class Reject:
    """Machine-readable reasons for `rejected` (nothing stored)."""

    NOT_AN_OBJECT = "not_an_object"
    UNKNOWN_FIELD = "unknown_field"
    INVALID_EVENT_ID = "invalid_event_id"
    INVALID_SKU = "invalid_sku"
    MISSING_TENANT = "missing_tenant"
    INVALID_TENANT = "invalid_tenant"
    TENANT_CLOSED = "tenant_closed"
    INVALID_TIMESTAMP = "invalid_timestamp"
    TIMESTAMP_WITHOUT_OFFSET = "timestamp_without_offset"
    TIMESTAMP_IN_FUTURE = "timestamp_in_future"
    TIMESTAMP_TOO_OLD = "timestamp_too_old"
    INVALID_QUANTITY = "invalid_quantity"
    QUANTITY_NOT_FINITE = "quantity_not_finite"
    NEGATIVE_QUANTITY = "negative_quantity"
    QUANTITY_OUT_OF_RANGE = "quantity_out_of_range"
    INVALID_PROJECT = "invalid_project"
    INVALID_TAGS = "invalid_tags"


class EventRejected(Exception):
    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


def parse_timestamp(value: Any) -> datetime:
    if not isinstance(value, str) or not value or len(value) > MAX_TIMESTAMP_LENGTH:
        raise EventRejected(Reject.INVALID_TIMESTAMP, "timestamp must be an RFC 3339 string")
    text = value.upper()  # RFC 3339 allows "t" and "z"
    if not _RFC3339.fullmatch(text):
        if _RFC3339.fullmatch(text + "Z"):
            raise EventRejected(
                Reject.TIMESTAMP_WITHOUT_OFFSET, "timestamp needs a UTC offset (e.g. Z or +01:00)"
            )
        raise EventRejected(
            Reject.INVALID_TIMESTAMP,
            f"timestamp is not RFC 3339 (e.g. 2026-11-02T10:00:00Z, at most 6 decimals): {value!r}",
        )
    try:
        parsed = datetime.fromisoformat(text)
    except (ValueError, OverflowError) as err:
        raise EventRejected(Reject.INVALID_TIMESTAMP, f"timestamp is not a valid instant: {value!r}") from err
    try:
        return parsed.astimezone(UTC)
    except OverflowError as err:  # e.g. 0001-01-01T00:00+01:00 is before the first representable instant
        raise EventRejected(Reject.INVALID_TIMESTAMP, f"timestamp is out of range: {value!r}") from err


def parse_quantity(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise EventRejected(Reject.INVALID_QUANTITY, "quantity must be a decimal string or a number")
    if isinstance(value, str):
        if len(value) > 64:
            raise EventRejected(Reject.INVALID_QUANTITY, "quantity is too long")
        if not _QUANTITY.fullmatch(value):
            if value.strip().lower().lstrip("+-") in {"nan", "snan", "inf", "infinity"}:
                raise EventRejected(
                    Reject.QUANTITY_NOT_FINITE, "quantity must be finite (no NaN or Infinity)"
                )
            raise EventRejected(
                Reject.INVALID_QUANTITY,
                f'quantity must be a plain decimal of ASCII digits, e.g. "12" or "-0.5": {value!r}',
            )
        quantity = Decimal(value)
    else:
        try:
            quantity = Decimal(value)
        except InvalidOperation as err:
            raise EventRejected(Reject.INVALID_QUANTITY, f"quantity is not a decimal: {value!r}") from err
    if not quantity.is_finite():
        raise EventRejected(Reject.QUANTITY_NOT_FINITE, "quantity must be finite (no NaN or Infinity)")
    if abs(quantity) >= MAX_QUANTITY or quantity != quantity.quantize(QUANTUM, context=WIDE_CONTEXT):
        raise EventRejected(
            Reject.QUANTITY_OUT_OF_RANGE,
            f"quantity needs at most {MAX_QUANTITY_INTEGER_DIGITS} integer digits and 12 decimal places",
        )
    return quantity


@dataclass(frozen=True)
class TagLimits:
    """Settings read once per batch (settings attribute access is slow in a per-event loop)."""

    tags_max_keys: int
    tag_key_max: int
    tag_value_max: int

    @classmethod
    def current(cls) -> TagLimits:
        return cls(
            settings.USAGE_TAGS_MAX_KEYS,
            settings.USAGE_TAG_KEY_MAX_LENGTH,
            settings.USAGE_TAG_VALUE_MAX_LENGTH,
        )


def parse_tags(value: Any, limits: TagLimits) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise EventRejected(Reject.INVALID_TAGS, "tags must be a flat JSON object")
    if len(value) > limits.tags_max_keys:
        raise EventRejected(Reject.INVALID_TAGS, f"at most {limits.tags_max_keys} tags")
    tags: dict[str, Any] = {}
    key_max, value_max = limits.tag_key_max, limits.tag_value_max
    for key, raw in value.items():
        if not key or len(key) > key_max:
            raise EventRejected(Reject.INVALID_TAGS, f"tag keys need 1 to {key_max} characters")
        # plain_text inline (four calls per event otherwise), the rest through storable_text
        if not (key.isascii() and "\x00" not in key) and not storable_text(key):
            raise EventRejected(Reject.INVALID_TAGS, "a tag key holds a NUL or an invalid Unicode character")
        kind = type(raw)
        if kind is str:
            if len(raw) > value_max:
                raise EventRejected(Reject.INVALID_TAGS, f"tag {key!r} is longer than {value_max}")
            if not (raw.isascii() and "\x00" not in raw) and not storable_text(raw):
                raise EventRejected(
                    Reject.INVALID_TAGS, f"tag {key!r} holds a NUL or an invalid Unicode character"
                )
            tags[key] = raw
        elif kind is Decimal:  # JSON numbers with a fraction arrive exact; stored as their text
            if not raw.is_finite():
                raise EventRejected(Reject.INVALID_TAGS, f"tag {key!r} is not finite")
            tags[key] = str(raw)
        elif raw is None or kind is int or kind is bool:
            tags[key] = raw
        else:
            raise EventRejected(
                Reject.INVALID_TAGS, f"tag {key!r} must be a scalar (string, number, boolean, null)"
            )
    return tags


def plain_text(value: str) -> bool:
    """storable_text's common case, cheap enough to ask first in per-event loops: ASCII (an O(1) check in
    CPython; pure ASCII holds no surrogate) without a NUL."""
    return value.isascii() and "\x00" not in value


def storable_text(value: str) -> bool:
    """PostgreSQL text and jsonb hold neither NUL nor lone surrogates (which JSON can smuggle in as
    escapes like \\ud800): such strings are refused up front instead of failing the batch's write."""
    if plain_text(value):
        return True
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def short_string(value: Any, *, max_length: int, reason: str, name: str) -> str:
    if not isinstance(value, str) or not value or len(value) > max_length:
        raise EventRejected(reason, f"{name} must be a string of 1 to {max_length} characters")
    if not storable_text(value):
        raise EventRejected(reason, f"{name} holds a NUL or an invalid Unicode character")
    return value


# One encoder for every event: `json.dumps` with these options builds a new JSONEncoder per call.
_CANONICAL_TAGS = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_tags(tags: dict[str, Any]) -> str:
    return _CANONICAL_TAGS.encode(tags)


def payload_sha256(
    *,
    tenant: str,
    event_id: str,
    sku: str,
    timestamp: datetime,
    quantity: Decimal,
    project: str,
    tags_json: str,
) -> str:
    """Hash of the canonical event: what makes a resent event a duplicate rather than a conflict. The
    timestamp is compared in UTC and the quantity at the stored scale, so `1` and `"1.0"` are the same;
    tags by their canonical JSON (sorted keys)."""
    canonical = "\x1f".join(
        (
            tenant,
            event_id,
            sku,
            timestamp.isoformat(),
            format(quantity.quantize(QUANTUM, context=WIDE_CONTEXT), "f"),
            project,
            tags_json,
        )
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
