"""What a finished run tells the outside: the gauge billing_reconciliation_delta{check} and one platform
alert per check (kind reconciliation, key = the check), firing while a delta of the check breaches its
threshold and resolved by the next run where none does."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from common.metrics import RECONCILIATION_DELTA
from ledger.alerts.services import alert_fire, alert_resolve
from ledger.models import Alert
from ledger.models.reconciliation import Check, ReconciliationRun

FAILED_KEY = "run_failed"


def run_completed(*, run: ReconciliationRun, now: datetime) -> None:
    summary = run.summary if isinstance(run.summary, dict) else {}
    alert_resolve(kind=Alert.Kind.RECONCILIATION, tenant_id=None, key=FAILED_KEY, now=now)
    for check in Check.values:
        figures = summary.get(check, {})
        if "skipped" in figures:
            continue
        total = Decimal(str(figures.get("abs_delta_base", "0")))
        RECONCILIATION_DELTA.labels(check=check).set(float(total))  # a gauge's sample, not money
        breached = int(figures.get("breached", 0))
        if breached:
            alert_fire(
                kind=Alert.Kind.RECONCILIATION,
                tenant_id=None,
                key=check,
                message=(
                    f"reconciliation {run.period_key}: {breached} delta(s) of {check} above the threshold, "
                    f"{figures.get('abs_delta_base')} {run.base_currency} in all (run {run.pk})"
                ),
                details={
                    "run_id": run.pk,
                    "period": run.period_key,
                    "check": check,
                    "breached": breached,
                    "deltas": int(figures.get("deltas", 0)),
                    "abs_delta_base": str(figures.get("abs_delta_base")),
                    "threshold": run.thresholds.get(check, {}),
                },
                now=now,
            )
        else:
            alert_resolve(kind=Alert.Kind.RECONCILIATION, tenant_id=None, key=check, now=now)


def run_failed(*, run: ReconciliationRun, now: datetime) -> None:
    alert_fire(
        kind=Alert.Kind.RECONCILIATION,
        tenant_id=None,
        key=FAILED_KEY,
        severity=Alert.Severity.CRITICAL,
        message=f"reconciliation {run.period_key} failed (run {run.pk}): {run.error}",
        details={"run_id": run.pk, "period": run.period_key, "error": run.error},
        now=now,
    )
