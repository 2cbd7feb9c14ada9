"""A circuit breaker for the fail-open uses of Redis on request paths (ingest's backpressure, the rating
nudge, the quote rate limit). A frozen or black-holed Redis answers nothing: every call waits for the
client's socket timeout (REDIS_SOCKET_TIMEOUT_SECONDS), and a request that touches Redis three times would
wait three times. After one such timeout, `redis_breaker` stays open for REDIS_BREAKER_SECONDS: callers
skip Redis at once (and fail open), then the first call after that window tries again. A refused
connection fails at once and does not open it. Per process; cache and broker share it (both REDIS_URL)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

T = TypeVar("T")

_TIMEOUTS = (RedisTimeoutError, TimeoutError)  # socket.timeout is TimeoutError


class CircuitBreaker:
    def __init__(self, name: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self._clock = clock
        self._open_until = 0.0
        self._lock = threading.Lock()

    def allows(self) -> bool:
        """False while the breaker is open: skip the call and fail open."""
        return self._clock() >= self._open_until

    def failed(self, err: BaseException) -> None:
        """Record a failed call; a timeout (anywhere in the exception's chain) opens the breaker."""
        if not _is_timeout(err):
            return
        seconds = settings.REDIS_BREAKER_SECONDS
        with self._lock:
            self._open_until = self._clock() + seconds
        logger.warning("%s timed out; skipped for the next %s s: %s", self.name, seconds, err)

    def fail_open(self, call: Callable[[], T], *, default: T, what: str) -> T:
        """`call()`, or `default` when the breaker is open or Redis fails (logged; a timeout opens the
        breaker). Any other exception of `call` propagates."""
        if not self.allows():
            return default  # Redis timed out moments ago: do not wait for it again
        try:
            return call()
        except (RedisError, OSError) as err:
            self.failed(err)
            logger.warning("%s skipped, cache unavailable: %s", what, err)
            return default

    def reset(self) -> None:
        with self._lock:
            self._open_until = 0.0


def _is_timeout(err: BaseException | None) -> bool:
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, _TIMEOUTS):
            return True
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return False


redis_breaker = CircuitBreaker("redis")
