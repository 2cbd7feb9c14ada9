"""Rating tasks and the nudge that queues them: after stored usage commits (`usage_stored`), one rating task
is queued (coalesced through a cache flag), and a beat-scheduled sweeper rates whatever a lost nudge left
behind. Tasks are thin: they call the rating services."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from redis.exceptions import RedisError

from billing.rating.services import usage_rate_pending, usage_sweep
from common import metrics
from common.breaker import redis_breaker

logger = logging.getLogger(__name__)


@shared_task(name="billing.rate_pending", ignore_result=True)
def rate_pending() -> int:
    """Rate pending events until none are left or the time budget is spent (then queue a successor)."""
    rating_nudge_received()
    run = usage_rate_pending()
    if not run.drained:
        rating_nudge()
    return run.claimed


@shared_task(name="billing.rating_sweep", ignore_result=True)
def rating_sweep() -> int:
    """Beat: rate what a lost nudge left behind (a Redis outage delays rating, never loses it)."""
    run = usage_sweep()
    return 0 if run is None else run.claimed


NUDGE_FLAG = "usage:rating-queued"


def rating_nudge() -> None:
    """Ask a worker to rate pending events, coalesced: a flag in the cache says "a rating task is queued";
    while it is set nobody publishes another, and the task clears it when it starts, so every commit is
    either seen by a running task or makes the next one. A broker or cache outage is logged and counted,
    never raised: the sweeper rates what a lost nudge left behind. It runs inside the request that stored
    the usage, so a Redis that times out is not asked again for a moment (common.breaker)."""
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        if not redis_breaker.allows():
            metrics.RATING_NUDGE_FAILURES.inc()
            return
        try:
            if not cache.add(NUDGE_FLAG, 1, timeout=settings.RATING_NUDGE_FLAG_TTL_SECONDS):
                return
        except (RedisError, OSError) as err:
            redis_breaker.failed(err)
            logger.warning("rating nudge coalescing skipped, cache unavailable: %s", err)
            if not redis_breaker.allows():
                metrics.RATING_NUDGE_FAILURES.inc()
                return
    try:
        rate_pending.delay()
    except Exception as err:  # a fire-and-forget side effect after commit; kombu raises many types
        metrics.RATING_NUDGE_FAILURES.inc()
        logger.warning("rating nudge failed (broker unavailable?); the sweeper will catch up: %s", err)
        if settings.CELERY_TASK_ALWAYS_EAGER:
            return
        redis_breaker.failed(err)
        if redis_breaker.allows():
            with contextlib.suppress(RedisError, OSError):
                cache.delete(NUDGE_FLAG)


def rating_nudge_received() -> None:
    """Called by the rating task when it starts: later commits must publish a new task."""
    try:
        cache.delete(NUDGE_FLAG)
    except (RedisError, OSError) as err:
        logger.warning("rating nudge flag not cleared, cache unavailable: %s", err)


def on_usage_stored(sender: Any, **kwargs: Any) -> None:
    """Receiver of `billing.usage.signals.usage_stored` (connected in `BillingConfig.ready`)."""
    rating_nudge()
