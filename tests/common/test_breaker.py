"""The Redis circuit breaker opens on a timeout only, and closes again after REDIS_BREAKER_SECONDS."""

from __future__ import annotations

import pytest
import redis
from django.test import override_settings
from kombu.exceptions import OperationalError

from common.breaker import CircuitBreaker


def wrapped(cause: BaseException) -> OperationalError:
    """What kombu raises: its own error, the client's as the cause."""
    try:
        try:
            raise cause
        except BaseException as err:
            raise OperationalError(str(err)) from err
    except OperationalError as outer:
        return outer


@pytest.mark.parametrize(
    "error",
    [
        redis.TimeoutError("Timeout reading from socket"),
        TimeoutError("timed out"),
        wrapped(redis.TimeoutError()),
    ],
    ids=["redis", "socket", "kombu"],
)
def test_a_timeout_opens_it(error):
    breaker = CircuitBreaker("test")

    breaker.failed(error)

    assert breaker.allows() is False


@pytest.mark.parametrize(
    "error",
    [redis.ConnectionError("Error 111 connecting. Connection refused."), wrapped(ConnectionRefusedError())],
    ids=["redis", "kombu"],
)
def test_a_refused_connection_leaves_it_closed(error):
    breaker = CircuitBreaker("test")

    breaker.failed(error)

    assert breaker.allows() is True


@override_settings(REDIS_BREAKER_SECONDS=5)
def test_it_closes_again_after_the_window():
    now = [100.0]
    breaker = CircuitBreaker("test", clock=lambda: now[0])

    breaker.failed(redis.TimeoutError())
    now[0] = 104.9
    still_open = breaker.allows()
    now[0] = 105.1

    assert (still_open, breaker.allows()) == (False, True)
