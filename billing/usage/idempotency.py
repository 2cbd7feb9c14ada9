"""Request idempotency for ingest (`Idempotency-Key`): a retried request gets the stored response of the
first one, a different body under the same key gets 409, and two requests in flight with one key never
both store."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import connection

from billing.usage.models import IngestRequest
from common.errors import Conflict


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"


@dataclass
class IngestResult:
    status_code: int
    body: bytes
    replayed: bool = False
    counts: dict[str, int] = field(default_factory=dict)


def request_replay(*, scope: str, key: str, request_sha256: str) -> IngestResult | None:
    record = IngestRequest.objects.filter(scope=scope, key=key).first()
    if record is None:
        return None
    if record.request_sha256 != request_sha256:
        raise IdempotencyConflict("this Idempotency-Key was used with a different request body")
    return IngestResult(status_code=record.response_status, body=record.response_body.encode(), replayed=True)


def request_claim(*, scope: str, key: str, request_sha256: str) -> None:
    """Claim the key inside the storing transaction: a transaction-scoped advisory lock makes a
    concurrent request with the same key fail fast with 409 instead of waiting."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0))", [f"ingest:{scope}:{key}"])
        (locked,) = cursor.fetchone()
    if not locked:
        raise IdempotencyConflict("a request with this Idempotency-Key is still in flight; retry later")
    # A request that committed between the replay check and the lock: answer 409 (the retry replays).
    record = (
        IngestRequest.objects.filter(scope=scope, key=key).values_list("request_sha256", flat=True).first()
    )
    if record is not None:
        raise IdempotencyConflict(
            "this Idempotency-Key was just used by another request; retry to get its response"
            if record == request_sha256
            else "this Idempotency-Key was used with a different request body"
        )
