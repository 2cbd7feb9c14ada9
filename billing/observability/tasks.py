"""Beat tasks of the observability package (thin: one service call each)."""

from __future__ import annotations

from celery import shared_task

from billing.observability.dashboards_kept import dashboards_refresh


@shared_task(name="billing.dashboards_refresh", ignore_result=True)
def dashboards_refresh_task() -> dict[str, str]:
    return dashboards_refresh()
