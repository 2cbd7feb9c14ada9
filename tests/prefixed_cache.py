"""The test suite's Redis cache: Django's RedisCache, whose clear() deletes only the keys of this test
process's prefix (config.settings.test gives each process its own). Django's flushes the whole Redis
database, so one xdist worker's `cache.clear()` wiped the other's counters mid-request."""

from __future__ import annotations

from django.core.cache.backends.redis import RedisCache


class PrefixedRedisCache(RedisCache):
    def clear(self) -> None:
        client = self._cache.get_client(None, write=True)  # type: ignore[attr-defined]
        keys = list(client.scan_iter(match=f"{self.key_prefix}:*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])
