"""Concurrency harness for PostgreSQL tests: work in other threads (each with its own database
connection), a rater's claim held open, and "does rating wait for this lock holder?"."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import connection, transaction

from billing.services.rating import claim_batches, usage_rate_pending


def in_thread(target: Callable[[], object]) -> threading.Thread:
    """Start `target` in a thread; the thread's database connection is closed when it ends."""

    def run() -> None:
        try:
            target()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def rating_waits_for(holder: threading.Thread, held: threading.Event, release: threading.Event) -> bool:
    """Once `holder` has set `held`, start rating in another thread: True when rating was still waiting a
    second later. Then releases the holder and waits for both to finish."""
    assert held.wait(timeout=10)
    rater = in_thread(usage_rate_pending)
    rater.join(timeout=1.0)
    waiting = rater.is_alive()
    release.set()
    holder.join(timeout=10)
    rater.join(timeout=10)
    return waiting


@contextmanager
def claim_held_by_another_rater(limit: int) -> Iterator[list[int]]:
    """Another rater's transaction holds `claim_batches(limit)` while the block runs; yields the ids of
    the batches it claimed."""
    held, release = threading.Event(), threading.Event()
    claimed: list[int] = []

    def hold() -> None:
        with transaction.atomic():
            batches, _drained = claim_batches(limit)
            claimed.extend(batch.pk for batch in batches)
            held.set()
            release.wait(timeout=10)

    thread = in_thread(hold)
    assert held.wait(timeout=10)
    try:
        yield claimed
    finally:
        release.set()
        thread.join(timeout=10)
