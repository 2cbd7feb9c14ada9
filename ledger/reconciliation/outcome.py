"""What a finished run tells the outside: one platform alert per period and check (kind reconciliation,
key `<period>:<check>`), firing while a delta of the check breaches its threshold in that period and
resolved by the period's next run where none does; and the gauge billing_reconciliation_delta{check},
which shows the newest period reconciled (a run of an older period leaves it alone). A check skipped
(the provider check with no import of the period) resolves its alert of that period and, for the newest
period, sets its gauge to NaN: not compared, neither clean nor breached."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from common.errors import ValidationFailed
from common.metrics import RECONCILIATION_DELTA
from common.periods import period_by_key, period_key_cycle
from ledger.alerts.services import alert_fire, alert_resolve
from ledger.models import Alert
from ledger.models.reconciliation import Check, ReconciliationRun

FAILED = "run_failed"


def alert_key(period_key: str, check: str) -> str:
    """The alert key of a check (or `run_failed`) in a period: `2026-11:rated_vs_invoiced`."""
    return f"{period_key}:{check}"


def _start(period_key: str) -> datetime | None:
    try:
        return period_by_key(period_key, tz="UTC", cycle=period_key_cycle(period_key)).start
    except ValidationFailed:  # a run stored before keys were checked (e.g. 'garbage'): no period
        return None


def is_newest_period(period_key: str) -> bool:
    """Whether no completed run is of a period that starts later (keys of every cycle, by their start)."""
    reconciled = ReconciliationRun.objects.filter(status=ReconciliationRun.Status.COMPLETED)
    starts = {_start(key) for key in reconciled.values_list("period_key", flat=True).distinct()}
    mine = _start(period_key)
    return mine is not None and all(start <= mine for start in starts if start is not None)


def run_completed(*, run: ReconciliationRun, now: datetime) -> None:
    summary = run.summary if isinstance(run.summary, dict) else {}
    period = run.period_key
    alert_resolve(kind=Alert.Kind.RECONCILIATION, tenant_id=None, key=alert_key(period, FAILED), now=now)
    newest = is_newest_period(period)
    for check in Check.values:
        figures = summary.get(check, {})
        key = alert_key(period, check)
        if "skipped" in figures:
            alert_resolve(kind=Alert.Kind.RECONCILIATION, tenant_id=None, key=key, now=now)
            if newest:
                RECONCILIATION_DELTA.labels(check=check).set(float("nan"))  # not compared
            continue
        total = Decimal(str(figures.get("abs_delta_base", "0")))
        if newest:
            RECONCILIATION_DELTA.labels(check=check).set(float(total))  # a gauge's sample, not money
        breached = int(figures.get("breached", 0))
        if breached:
            alert_fire(
                kind=Alert.Kind.RECONCILIATION,
                tenant_id=None,
                key=key,
                message=(
                    f"reconciliation {period}: {breached} delta(s) of {check} above the threshold, "
                    f"{figures.get('abs_delta_base')} {run.base_currency} in all (run {run.pk})"
                ),
                details={
                    "run_id": run.pk,
                    "period": period,
                    "check": check,
                    "breached": breached,
                    "deltas": int(figures.get("deltas", 0)),
                    "abs_delta_base": str(figures.get("abs_delta_base")),
                    "threshold": run.thresholds.get(check, {}),
                },
                now=now,
            )
        else:
            alert_resolve(kind=Alert.Kind.RECONCILIATION, tenant_id=None, key=key, now=now)


def run_failed(*, run: ReconciliationRun, now: datetime) -> None:
    alert_fire(
        kind=Alert.Kind.RECONCILIATION,
        tenant_id=None,
        key=alert_key(run.period_key, FAILED),
        severity=Alert.Severity.CRITICAL,
        message=f"reconciliation {run.period_key} failed (run {run.pk}): {run.error}",
        details={"run_id": run.pk, "period": run.period_key, "error": run.error},
        now=now,
    )
