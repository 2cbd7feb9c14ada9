"""Concurrency harness for PostgreSQL tests: work in other threads (each with its own database
connection), several jobs released at once, a transaction (e.g. a rater's claim) held open, and "does
rating wait for this lock holder?"."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from django.db import connection, transaction

from billing.rating.services import claim_batches, usage_rate_pending

T = TypeVar("T")


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


def run_together(jobs: list[Callable[[], Any]]) -> tuple[list[Any], list[BaseException]]:
    """Run each job in a thread of its own, all released at once by a barrier; returns their results (in
    completion order) and whatever they raised. Each thread's database connection is closed."""
    barrier = threading.Barrier(len(jobs))
    results: list[Any] = []
    errors: list[BaseException] = []

    def run(job: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            results.append(job())
        except BaseException as err:
            errors.append(err)

    threads = [in_thread(functools.partial(run, job)) for job in jobs]
    for thread in threads:
        thread.join()
    return results, errors


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
def held_open_in_another_thread(work: Callable[[], T]) -> Iterator[T]:
    """`work` runs in a transaction of another thread (its own connection), which stays open, holding
    whatever locks `work` took, while the block runs; yields what `work` returned. The transaction
    commits when the block exits."""
    held, release = threading.Event(), threading.Event()
    returned: list[T] = []

    def hold() -> None:
        with transaction.atomic():
            returned.append(work())
            held.set()
            release.wait(timeout=10)

    thread = in_thread(hold)
    assert held.wait(timeout=10)
    try:
        yield returned[0]
    finally:
        release.set()
        thread.join(timeout=10)


@contextmanager
def claim_held_by_another_rater(limit: int) -> Iterator[list[int]]:
    """Another rater's transaction holds `claim_batches(limit)` while the block runs; yields the ids of
    the batches it claimed."""
    with held_open_in_another_thread(lambda: [batch.pk for batch in claim_batches(limit)[0]]) as claimed:
        yield claimed
