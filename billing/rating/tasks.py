"""Rating tasks: nudged after ingest commits (coalesced), plus the periodic sweeper. Thin: call services."""

from __future__ import annotations

from celery import shared_task

from billing.rating.services import usage_rate_pending, usage_sweep
from billing.usage.ingest import rating_nudge, rating_nudge_received


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
