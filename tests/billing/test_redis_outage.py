"""A frozen Redis (SIGSTOP: connections are accepted by the kernel, nothing ever answers) does not stall
ingest: the backpressure check, the rating nudge's coalescing flag and its Celery publish each give up
after the short client timeouts of the settings, the first timeout opens the breaker (common.breaker) so
the next requests do not wait again, and every request is answered."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import time_machine
from django.conf import settings
from django.test import Client, override_settings
from kombu import pools as kombu_pools

from billing.rating.tasks import rate_pending
from common.breaker import redis_breaker
from config.celery import app as celery_app
from tests.factories.usage import NOW, event, post_usage, usage_world

needs_redis_server = pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def private_redis() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A redis-server of this test's own, without persistence; stopped (and thawed first) whatever happens."""
    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(url, socket_timeout=0.2).ping()
                break
            except redis.RedisError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.05)
        yield url, server
    finally:
        if server.poll() is None:
            os.kill(server.pid, signal.SIGCONT)
            server.terminate()
            try:
                server.wait(timeout=5)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


@pytest.fixture
def broker_and_cache_at(private_redis) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The cache and Celery's broker pointed at the private server, with the settings' client options, and
    a real publish (no eager Celery); the Celery app's connection pools are rebuilt before and after."""
    url, server = private_redis
    caches = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "OPTIONS": dict(settings.REDIS_CLIENT_OPTIONS),
        }
    }
    conf = celery_app.conf
    saved = {key: conf[key] for key in ("broker_url", "broker_transport_options", "task_always_eager")}
    _reset_celery_pools()
    redis_breaker.reset()
    try:
        conf["broker_url"] = url
        conf["broker_transport_options"] = dict(settings.CELERY_BROKER_TRANSPORT_OPTIONS)
        conf["task_always_eager"] = False
        with override_settings(CACHES=caches, CELERY_TASK_ALWAYS_EAGER=False):
            yield url, server
    finally:
        if server.poll() is None:
            os.kill(server.pid, signal.SIGCONT)  # closing the pools must not wait on a frozen server
        _reset_celery_pools()
        redis_breaker.reset()
        for key, value in saved.items():
            conf[key] = value


def _reset_celery_pools() -> None:
    """Drop the app's broker connections and producers, and kombu's registry of pools (keyed by broker URL:
    a pool closed but left there would be handed out again): the next publish connects to the broker now
    set."""
    app: Any = celery_app  # the pools are private attributes, untyped
    app._pool = None
    app.amqp._producer_pool = None
    kombu_pools.reset()


def test_the_client_timeouts_are_short():
    assert settings.REDIS_CLIENT_OPTIONS == {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}
    transport = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    assert (transport["socket_connect_timeout"], transport["socket_timeout"], transport["max_retries"]) == (
        0.5,
        0.5,
        0,
    )


@pytest.mark.slow
@needs_redis_server
def test_each_redis_call_gives_up_within_its_timeout_while_redis_is_frozen(broker_and_cache_at):
    from django.core.cache import cache

    _, server = broker_and_cache_at
    cache.set("warm", 1)
    rate_pending.delay()  # the broker connection exists before the freeze
    os.kill(server.pid, signal.SIGSTOP)

    started = time.perf_counter()
    with pytest.raises(redis.TimeoutError):
        cache.add("usage:rating-queued", 1)
    cache_elapsed = time.perf_counter() - started
    started = time.perf_counter()
    with pytest.raises(Exception, match="Timeout"):
        rate_pending.delay()
    publish_elapsed = time.perf_counter() - started

    assert cache_elapsed < 0.75
    assert publish_elapsed < 1.0


@pytest.mark.slow
@needs_redis_server
@pytest.mark.django_db(transaction=True)  # real commits: the nudge runs on commit, inside the request
def test_ingest_answers_fast_while_redis_is_frozen(broker_and_cache_at):
    url, server = broker_and_cache_at
    client = Client()
    with time_machine.travel(NOW, tick=True):
        world = usage_world()
        # healthy first: the nudge really publishes (a task message waits in the broker's queue)
        assert (
            post_usage(client, world, [event("warm-up", timestamp="2026-11-15T10:00:00Z")]).status_code == 200
        )
        assert redis.Redis.from_url(url).llen("celery") == 1

        os.kill(server.pid, signal.SIGSTOP)
        statuses: list[int] = []
        latencies: list[float] = []
        for i in range(30):
            started = time.perf_counter()
            response = post_usage(client, world, [event(f"e-{i}", timestamp="2026-11-15T10:00:00Z")])
            latencies.append(time.perf_counter() - started)
            statuses.append(response.status_code)
            assert response.json()["counts"]["accepted"] == 1

    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    assert statuses == [200] * 30
    assert p99 < 1.0, f"p99 {p99:.2f} s, slowest {latencies[-3:]}"
