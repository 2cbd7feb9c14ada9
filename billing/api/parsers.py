"""Request body parsing of the billing API.

`json_document` is the one strict JSON reading both endpoints use: UTF-8 only (no byte order mark, no
other `charset` in the Content-Type, no UTF-16/32 auto-detection), and no object with a key twice (the
standard library would keep the last one silently).

`unsized_body_read` makes a chunked body (no Content-Length) readable where the server allows it.

`UsageBatchParser` (the usage endpoint): `application/json` only, at most `USAGE_MAX_BODY_BYTES`, numbers
kept exact as `Decimal`, and the shape `{"events": [...]}`. `request.data` is then `{"events": [...],
"sha256": <hex digest of the raw body>}` (request idempotency compares bodies, not parsed values)."""

from __future__ import annotations

import codecs
import hashlib
import io
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import IO, Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.http import parse_header_parameters
from rest_framework.exceptions import UnsupportedMediaType
from rest_framework.parsers import BaseParser

from billing.usage.ingest import BatchTooLarge
from common.errors import ApplicationError, ValidationFailed

NOT_UTF8 = "the body must be UTF-8 JSON"


class LengthRequired(ApplicationError):
    status_code = 411
    code = "length_required"


def unsized_body_read(request: HttpRequest, limit: int) -> None:
    """A body without a Content-Length (`Transfer-Encoding: chunked`) reaches Django empty: its stream is cut
    at CONTENT_LENGTH, and an absent one counts as 0 (DRF then calls no parser). A server that de-chunks the
    body and ends the input there (`wsgi.input_terminated`: gunicorn, the production server) lets it be read
    to its end: read at most `limit` + 1 bytes and hand them on with their length, so the parser takes them
    as any body (and refuses more than `limit`, 413). Without that mark (Django's development server) the
    body cannot be read safely: 411."""
    if request.META.get("CONTENT_LENGTH"):
        return
    if request.META.get("wsgi.input_terminated"):
        body = request.META["wsgi.input"].read(limit + 1)
    elif "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
        raise LengthRequired("a chunked body needs a server that de-chunks it; send a Content-Length")
    else:
        return
    request.META["CONTENT_LENGTH"] = str(len(body))
    request._stream = io.BytesIO(body)


def json_document(body: bytes, media_type: str | None, **loads: Any) -> Any:
    """`body` parsed strictly (see the module's docstring); `loads` go to `json.loads` (`parse_float`, ...).
    A charset other than utf-8 is 415; a body that is not UTF-8, malformed JSON or a duplicate key is 400."""
    charset = parse_header_parameters(media_type or "")[1].get("charset")
    if charset is not None and charset.lower() != "utf-8":
        raise UnsupportedMediaType(media_type or "", detail=f"{NOT_UTF8} (Content-Type charset {charset!r})")
    # Raw NUL bytes are never valid JSON text (inside strings they must be escaped): they are UTF-16/32.
    if body.startswith(codecs.BOM_UTF8) or b"\x00" in body:
        raise ValidationFailed(NOT_UTF8)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValidationFailed(NOT_UTF8) from err
    try:
        return json.loads(text, object_pairs_hook=_object_without_duplicate_keys, **loads)
    except (ValueError, RecursionError) as err:
        raise ValidationFailed(f"malformed JSON: {err}") from err


def _object_without_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # dict() then a length comparison: the slow search runs only when there is a duplicate.
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValidationFailed(f"duplicate key {json.dumps(key[:64])} in a JSON object")
            seen.add(key)
    return document


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
        document = json_document(body, media_type, parse_float=Decimal, parse_constant=Decimal)
        if (
            not isinstance(document, dict)
            or set(document) != {"events"}
            or not isinstance(document["events"], list)
        ):
            raise ValidationFailed('the body must be {"events": [ ... ]}')
        return {"events": document["events"], "sha256": hashlib.sha256(body).hexdigest()}
