"""The pure pricing engine: Decimal in, Decimal out. Imports no Django, does no I/O.

- `parse_price(entry, path=...)` -> a typed `Price`; `validate_document(doc, known_skus=...)` ->
  `ProfileDocument`; both raise errors naming every invalid field (`PricingError`, `DocumentError`).
- `price(price, quantity=..., events=..., carried_quantity=..., carried_events=...)` -> `PriceResult`
  (exact amount + breakdown); `price_segments` for a period split across profile versions.
- `quote(payload)` / `error_payload(err)`: the JSON face used by `manage.py quote` and the API.
- `canonical_json(doc)` / `document_sha256(doc)`: the stored, hashed form of a profile document.

Semantics and worked examples: docs/pricing.md.
"""

from .document import (
    DEFAULT_BACKDATING_DAYS,
    DEFAULT_GRACE_HOURS,
    canonical_json,
    document_sha256,
    validate_document,
)
from .engine import Segment, price, price_segments
from .errors import DocumentError, FieldError, PricingError
from .formatting import format_decimal, format_money
from .parsing import parse_price
from .prices import (
    MODELS,
    Commitment,
    Discount,
    FlatPrice,
    GraduatedPercentagePrice,
    GraduatedPrice,
    PackagePrice,
    PercentagePrice,
    PerUnitPrice,
    Price,
    ProfileDocument,
    RateTier,
    Tax,
    Tier,
    VolumePrice,
)
from .proration import prorate
from .quote import error_payload, quote
from .results import BreakdownRow, EventRow, FlatRow, PackageRow, PriceResult, TierRow, UnitRow
from .schema import PROFILE_SCHEMA

__all__ = [
    "DEFAULT_BACKDATING_DAYS",
    "DEFAULT_GRACE_HOURS",
    "MODELS",
    "PROFILE_SCHEMA",
    "BreakdownRow",
    "Commitment",
    "Discount",
    "DocumentError",
    "EventRow",
    "FieldError",
    "FlatPrice",
    "FlatRow",
    "GraduatedPercentagePrice",
    "GraduatedPrice",
    "PackagePrice",
    "PackageRow",
    "PerUnitPrice",
    "PercentagePrice",
    "Price",
    "PriceResult",
    "PricingError",
    "ProfileDocument",
    "RateTier",
    "Segment",
    "Tax",
    "Tier",
    "TierRow",
    "UnitRow",
    "VolumePrice",
    "canonical_json",
    "document_sha256",
    "error_payload",
    "format_decimal",
    "format_money",
    "parse_price",
    "price",
    "price_segments",
    "prorate",
    "quote",
    "validate_document",
]
