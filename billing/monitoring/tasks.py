"""Beat tasks of the alert evaluators (config.settings CELERY_BEAT_SCHEDULE): thin, each calls one
evaluator, which isolates failures tenant by tenant."""

from __future__ import annotations

from celery import shared_task

from billing.monitoring.anomalies import anomalies_evaluate
from billing.monitoring.budgets import budgets_evaluate
from billing.monitoring.pipeline import pipeline_evaluate


@shared_task(name="billing.monitoring_anomalies", ignore_result=True)
def monitoring_anomalies() -> int:
    """Spend anomalies of the tenants with recent usage: returns how many alerts are firing."""
    return anomalies_evaluate().firing


@shared_task(name="billing.monitoring_budgets", ignore_result=True)
def monitoring_budgets() -> int:
    """Budget and commitment thresholds of every active tenant: returns how many are crossed."""
    return budgets_evaluate().fired


@shared_task(name="billing.monitoring_pipeline", ignore_result=True)
def monitoring_pipeline() -> int:
    """Rating lag, backlog, blocked invoices, quarantine rates: returns how many checks fire."""
    return len(pipeline_evaluate().firing)
