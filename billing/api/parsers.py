"""The usage endpoint's body parser: `application/json` only, at most `USAGE_MAX_BODY_BYTES`, numbers kept
exact as `Decimal`, and the shape `{"events": [...]}`. `request.data` is then `{"events": [...], "sha256":
<hex digest of the raw body>}` (request idempotency compares bodies, not parsed values)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import IO, Any

from django.conf import settings
from rest_framework.parsers import BaseParser

from billing.usage.ingest import BatchTooLarge
from common.errors import ValidationFailed


class UsageBatchParser(BaseParser):
    media_type = "application/json"

    def parse(
        self,
        stream: IO[bytes] | None,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        limit = settings.USAGE_MAX_BODY_BYTES
        body = stream.read(limit + 1) if stream is not None else b""
        if len(body) > limit:
            raise BatchTooLarge(f"the request body is limited to {limit} bytes", extra={"limit_bytes": limit})
        try:
            document = json.loads(body, parse_float=Decimal, parse_constant=Decimal)
        except (ValueError, UnicodeDecodeError, RecursionError) as err:
            raise ValidationFailed(f"malformed JSON: {err}") from err
        if (
            not isinstance(document, dict)
            or set(document) != {"events"}
            or not isinstance(document["events"], list)
        ):
            raise ValidationFailed('the body must be {"events": [ ... ]}')
        return {"events": document["events"], "sha256": hashlib.sha256(body).hexdigest()}
