"""Backpressure's per-tenant rate counter (billing.usage.backpressure): it counts requests per window, and a
counter that vanishes between its creation and its increment (evicted, expired at the window's edge,
flushed) is opened again, never a 500."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache

from billing.usage import backpressure
from billing.usage.backpressure import Backpressure, usage_backpressure_check

NOW = 1_796_000_000.0


@pytest.fixture(autouse=True)
def _limits(local_cache: Any, settings: Any) -> None:
    settings.USAGE_RATE_LIMIT_REQUESTS = 2
    settings.USAGE_RATE_LIMIT_WINDOW_SECONDS = 60
    settings.USAGE_BACKLOG_MAX_PENDING = 0


def test_it_refuses_the_request_past_the_limit_with_its_retry_after() -> None:
    usage_backpressure_check(tenant_key="tenant:1", now=NOW)
    usage_backpressure_check(tenant_key="tenant:1", now=NOW)
    with pytest.raises(Backpressure) as refused:
        usage_backpressure_check(tenant_key="tenant:1", now=NOW)
    assert (refused.value.status_code, refused.value.retry_after) == (429, 40)  # the window ends at +40 s


class _LosesTheFirstCounter:
    """The cache, but the first counter it adds is gone before its increment (a flush, an eviction)."""

    def __init__(self) -> None:
        self.adds = 0

    def add(self, key: str, value: int, timeout: int) -> bool:
        added = bool(cache.add(key, value, timeout=timeout))
        self.adds += 1
        if self.adds == 1:
            cache.delete(key)
        return added

    def __getattr__(self, name: str) -> Any:
        return getattr(cache, name)


def test_a_counter_that_vanishes_before_its_increment_is_opened_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    flaky = _LosesTheFirstCounter()
    monkeypatch.setattr(backpressure, "cache", flaky)

    usage_backpressure_check(tenant_key="tenant:2", now=NOW)

    slot = int(NOW // 60)
    assert cache.get(f"usage:rate:tenant:2:{slot}") == 1
    assert flaky.adds == 2


def test_the_suites_cache_clears_only_its_own_keys(settings: Any) -> None:
    # the suite's Redis cache (REDIS_URL set): another process's key survives this process's clear()
    import redis
    from django.core.cache import caches

    if not settings.REDIS_URL:
        pytest.skip("the suite runs with the local-memory cache when REDIS_URL is unset")
    settings.CACHES = {
        "default": {
            "BACKEND": "tests.prefixed_cache.PrefixedRedisCache",
            "LOCATION": settings.REDIS_URL,
            "KEY_PREFIX": "test-mine",
        }
    }
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.set("test-theirs:1:counter", 7)
    caches["default"].set("counter", 1)

    caches["default"].clear()

    assert caches["default"].get("counter") is None
    assert client.get("test-theirs:1:counter") == b"7"
    client.delete("test-theirs:1:counter")
