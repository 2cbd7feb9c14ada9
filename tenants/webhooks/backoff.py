"""Retry delays of a failed delivery: exponential backoff with full jitter, capped (pure). After attempt n
(1-based) the next waits a uniform random time in [0, min(cap, base * 2**(n-1))] seconds."""

from __future__ import annotations

import random


def backoff_ceiling(attempt: int, *, base: float, cap: float) -> float:
    """The longest wait after the attempt-th failure."""
    if attempt < 1:
        raise ValueError("attempts count from 1")
    return float(min(cap, base * 2 ** min(attempt - 1, 62)))


def backoff_delay(attempt: int, *, base: float, cap: float, rand: random.Random | None = None) -> float:
    """A full-jitter wait after the attempt-th failure: uniform in [0, backoff_ceiling]."""
    return (rand or random.SystemRandom()).uniform(0.0, backoff_ceiling(attempt, base=base, cap=cap))
