"""Backpressure for ingest: a per-tenant request rate (429) and a bound on the unrated backlog (503), both
with Retry-After. Counters live in the cache; when the cache is down the checks fail open (and after a
timeout they are skipped for a moment: common.breaker)."""

from __future__ import annotations

import math
import time

from django.conf import settings
from django.core.cache import cache

from billing.usage.selectors import pending_backlog
from common import metrics
from common.breaker import redis_breaker
from common.errors import ApplicationError


class Backpressure(ApplicationError):
    """429 (per-tenant rate) or 503 (rating backlog); `retry_after` in seconds."""

    code = "backpressure"

    def __init__(self, message: str, *, status_code: int, retry_after: int):
        super().__init__(message, extra={"retry_after": retry_after})
        self.status_code = status_code
        self.retry_after = retry_after


def usage_backpressure_check(*, tenant_key: str, now: float | None = None) -> None:
    """Per-tenant fixed-window rate limit (429) and the unrated-backlog bound (503). The counters live in
    the cache (Redis in production); when the cache is down the checks fail open: ingest keeps accepting."""
    redis_breaker.fail_open(
        lambda: _check(tenant_key=tenant_key, now=time.time() if now is None else now),
        default=None,
        what="usage backpressure check",
    )


def _check(*, tenant_key: str, now: float) -> None:
    window = settings.USAGE_RATE_LIMIT_WINDOW_SECONDS
    limit = settings.USAGE_RATE_LIMIT_REQUESTS
    if limit > 0:
        slot = int(now // window)
        counter = f"usage:rate:{tenant_key}:{slot}"
        cache.add(counter, 0, timeout=window * 2)
        try:
            used = cache.incr(counter)
        except ValueError:
            # the counter vanished between add and incr (evicted, expired at the window's edge or flushed):
            # this request opens it again rather than failing the ingest
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
