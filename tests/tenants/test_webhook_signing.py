"""The webhook signature (tenants.webhooks.signing, docs/webhooks.md) and the backoff's bounds: pure."""

from __future__ import annotations

import hashlib
import hmac
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tenants.webhooks.backoff import backoff_ceiling, backoff_delay
from tenants.webhooks.signing import sign, signature_header, verify

SECRET = "whsec_test"
BODY = b'{"id":"evt_1","type":"alert.fired"}'
# Known vector, computed independently with
#   printf '%s' '1700000000.{"id":"evt_1","type":"alert.fired"}' | openssl dgst -sha256 -hmac whsec_test
KNOWN = "487d6ec1dcc3287c79308deabb2b1a90422d2da102dbd694a5d1a788e2414f68"


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, 1700000000, BODY) == expected == KNOWN


def test_the_header_names_the_time_and_one_signature_per_secret() -> None:
    header = signature_header([SECRET, "old"], 1700000000, BODY)
    assert header == f"t=1700000000,v1={KNOWN},v1={sign('old', 1700000000, BODY)}"


def test_verify_accepts_a_fresh_signature_and_either_secret_during_rotation() -> None:
    header = signature_header(["new", SECRET], 1700000000, BODY)
    assert verify(header, BODY, SECRET, now=1700000100)
    assert verify(header, BODY, "new", now=1700000100)


@pytest.mark.parametrize(
    ("header", "body", "now"),
    [
        (f"t=1700000000,v1={'0' * 64}", BODY, 1700000000),  # wrong signature
        ("t=1700000000", BODY, 1700000000),  # no signature
        (f"v1={'0' * 64}", BODY, 1700000000),  # no timestamp
        ("garbage", BODY, 1700000000),
    ],
)
def test_verify_refuses_malformed_or_wrong_headers(header: str, body: bytes, now: int) -> None:
    assert not verify(header, body, SECRET, now=now)


def test_verify_refuses_a_changed_body_and_an_old_timestamp() -> None:
    header = signature_header([SECRET], 1700000000, BODY)
    assert not verify(header, BODY + b" ", SECRET, now=1700000000)
    assert not verify(header, BODY, SECRET, now=1700000301)
    assert verify(header, BODY, SECRET, now=1700000300)


def test_the_backoff_ceiling_doubles_from_the_base_up_to_the_cap() -> None:
    assert [backoff_ceiling(n, base=30, cap=3600) for n in range(1, 10)] == [
        30.0,
        60.0,
        120.0,
        240.0,
        480.0,
        960.0,
        1920.0,
        3600.0,
        3600.0,
    ]


@given(
    attempt=st.integers(min_value=1, max_value=200),
    base=st.floats(min_value=0.1, max_value=600),
    cap=st.floats(min_value=1, max_value=86400),
    seed=st.integers(),
)
def test_a_full_jitter_delay_lies_between_zero_and_the_ceiling(
    attempt: int, base: float, cap: float, seed: int
) -> None:
    delay = backoff_delay(attempt, base=base, cap=cap, rand=random.Random(seed))
    assert 0.0 <= delay <= min(cap, base * 2 ** (attempt - 1))


def test_the_jitter_spreads_delays_over_the_whole_window() -> None:
    rand = random.Random(7)
    delays = [backoff_delay(4, base=30, cap=3600, rand=rand) for _ in range(2000)]
    assert max(delays) <= 240.0
    assert min(delays) < 24.0
    assert max(delays) > 216.0


def test_attempts_count_from_one() -> None:
    with pytest.raises(ValueError, match="from 1"):
        backoff_ceiling(0, base=30, cap=60)
