"""Beat task: reconcile the previous month (config/settings/base.py CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

from celery import shared_task

from billing.reconciliation.services import previous_month_key, reconcile_period


@shared_task(name="billing.reconcile_previous_period")
def reconcile_previous_period() -> int:
    return reconcile_period(period_key=previous_month_key(), trigger="beat").pk
