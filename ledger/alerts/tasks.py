"""Celery tasks of webhook deliveries (registered by ledger.tasks). An attempt that fails schedules the
next with the backoff's countdown; eagerly run (tests, no broker) it leaves the retry to the sweep."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from ledger.alerts.delivery import webhook_deliveries_sweep as sweep
from ledger.alerts.delivery import webhook_delivery_run
from tenants.webhooks.services import WEBHOOK_DELIVER_TASK


@shared_task(name=WEBHOOK_DELIVER_TASK, bind=True, acks_late=True)
def webhook_deliver(self: Any, delivery_id: int) -> str:
    result = webhook_delivery_run(delivery_id=delivery_id)
    if result.retry_in is not None and not self.request.is_eager:
        self.apply_async(args=(delivery_id,), countdown=result.retry_in)
    return result.outcome


@shared_task(name="ledger.webhook_deliveries_sweep")
def webhook_deliveries_sweep() -> int:
    return sweep()
