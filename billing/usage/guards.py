"""Around the ingest write: request idempotency (`Idempotency-Key`), backpressure (per-tenant rate and
rating backlog), and the coalesced nudge that asks a worker to rate what was stored."""

from __future__ import annotations

import contextlib
import logging
import math
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from redis.exceptions import RedisError

from billing.rating.selectors import pending_backlog
from billing.usage import metrics
from billing.usage.models import IngestRequest
from common.errors import ApplicationError, Conflict

logger = logging.getLogger(__name__)


class Backpressure(ApplicationError):
    """429 (per-tenant rate) or 503 (rating backlog); `retry_after` in seconds."""

    code = "backpressure"

    def __init__(self, message: str, *, status_code: int, retry_after: int):
        super().__init__(message, extra={"retry_after": retry_after})
        self.status_code = status_code
        self.retry_after = retry_after


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"


@dataclass
class IngestResult:
    status_code: int
    body: bytes
    replayed: bool = False
    counts: dict[str, int] = field(default_factory=dict)


# --- request idempotency --------------------------------------------------------------------------


def request_replay(*, scope: str, key: str, request_sha256: str) -> IngestResult | None:
    record = IngestRequest.objects.filter(scope=scope, key=key).first()
    if record is None:
        return None
    if record.request_sha256 != request_sha256:
        raise IdempotencyConflict("this Idempotency-Key was used with a different request body")
    return IngestResult(status_code=record.response_status, body=record.response_body.encode(), replayed=True)


def request_claim(*, scope: str, key: str, request_sha256: str) -> None:
    """Claim the key inside the storing transaction. On PostgreSQL a transaction-scoped advisory lock
    makes a concurrent request with the same key fail fast with 409 instead of waiting; SQLite
    serializes writers."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0))", [f"ingest:{scope}:{key}"]
            )
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


# --- backpressure ---------------------------------------------------------------------------------


def usage_backpressure_check(*, tenant_key: str, now: float | None = None) -> None:
    """Per-tenant fixed-window rate limit (429) and the unrated-backlog bound (503). The counters live in
    the cache (Redis in production); when the cache is down the checks fail open: ingest keeps accepting."""
    now = time.time() if now is None else now
    window = settings.USAGE_RATE_LIMIT_WINDOW_SECONDS
    limit = settings.USAGE_RATE_LIMIT_REQUESTS
    try:
        if limit > 0:
            slot = int(now // window)
            counter = f"usage:rate:{tenant_key}:{slot}"
            cache.add(counter, 0, timeout=window * 2)
            used = cache.incr(counter)
            if used > limit:
                metrics.INGEST_RATE_LIMITED.labels(kind="rate").inc()
                retry = max(1, math.ceil((slot + 1) * window - now))
                raise Backpressure(
                    f"rate limit of {limit} requests per {window} s exceeded",
                    status_code=429,
                    retry_after=retry,
                )
        bound = settings.USAGE_BACKLOG_MAX_PENDING
        if bound > 0:
            backlog = cache.get("usage:backlog")
            if backlog is None:
                backlog = pending_backlog()
                cache.set("usage:backlog", backlog, timeout=settings.USAGE_BACKLOG_CACHE_SECONDS)
            if backlog > bound:
                metrics.INGEST_RATE_LIMITED.labels(kind="backlog").inc()
                raise Backpressure(
                    f"the rating backlog is over {bound} events; retry later",
                    status_code=503,
                    retry_after=settings.USAGE_BACKLOG_RETRY_AFTER_SECONDS,
                )
    except (RedisError, OSError) as err:
        logger.warning("usage backpressure check skipped, cache unavailable: %s", err)


# --- rating nudge ---------------------------------------------------------------------------------


NUDGE_FLAG = "usage:rating-queued"


def rating_nudge() -> None:
    """Ask a worker to rate pending events, coalesced: a flag in the cache says "a rating task is queued";
    while it is set nobody publishes another, and the task clears it when it starts, so every commit is
    either seen by a running task or makes the next one. A broker or cache outage is logged and counted,
    never raised: the sweeper rates what a lost nudge left behind."""
    from billing.rating.tasks import rate_pending

    if not settings.CELERY_TASK_ALWAYS_EAGER:
        try:
            if not cache.add(NUDGE_FLAG, 1, timeout=settings.RATING_NUDGE_FLAG_TTL_SECONDS):
                return
        except (RedisError, OSError) as err:
            logger.warning("rating nudge coalescing skipped, cache unavailable: %s", err)
    try:
        rate_pending.delay()
    except Exception as err:  # a fire-and-forget side effect after commit; kombu raises many types
        metrics.RATING_NUDGE_FAILURES.inc()
        logger.warning("rating nudge failed (broker unavailable?); the sweeper will catch up: %s", err)
        with contextlib.suppress(RedisError, OSError):
            cache.delete(NUDGE_FLAG)


def rating_nudge_received() -> None:
    """Called by the rating task when it starts: later commits must publish a new task."""
    try:
        cache.delete(NUDGE_FLAG)
    except (RedisError, OSError) as err:
        logger.warning("rating nudge flag not cleared, cache unavailable: %s", err)
