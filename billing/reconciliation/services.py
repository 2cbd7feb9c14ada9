"""Reconcile a period: billing reads its rated usage cost and the ledger runs the checks and stores the
run (ledger.reconciliation.services.reconciliation_run). The command, the beat task, the finance page
and the demo all come through `reconcile_period`."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.utils import timezone

from billing.reconciliation.rated import rated_usage_costs
from common.periods import parse_period_key
from ledger.models import ReconciliationRun
from ledger.reconciliation.services import Progress, reconciliation_run


def reconcile_period(
    *,
    period_key: str,
    trigger: str,
    actor: User | None = None,
    note: str = "",
    provider: str | None = None,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> ReconciliationRun:
    period_key = parse_period_key(period_key)  # a bad key is refused before anything is read
    step = progress or (lambda _s, _d, _t: None)
    step("rated usage cost", 0, 3)
    rated = rated_usage_costs(period_key=period_key)
    return reconciliation_run(
        period_key=period_key,
        rated=rated,
        trigger=trigger,
        actor=actor,
        note=note,
        provider=provider,
        progress=progress,
        now=now,
    )


def previous_month_key(*, now: datetime | None = None) -> str:
    """The key of the month before `now` (UTC), the period the beat task reconciles."""
    now = now or timezone.now()
    last = now.replace(day=1) - timedelta(days=1)
    return f"{last.year:04d}-{last.month:02d}"
