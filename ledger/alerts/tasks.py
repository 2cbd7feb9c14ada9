"""Celery tasks of alert notifications (registered by ledger.tasks): webhook deliveries (an attempt that
fails schedules the next with the backoff's countdown; eagerly run, in tests or without a broker, it leaves
the retry to the sweep) and alert emails (a failed send is retried; eagerly run, it is logged only)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from ledger.alerts.delivery import webhook_deliveries_sweep as sweep
from ledger.alerts.delivery import webhook_delivery_run
from ledger.alerts.notify import ALERT_EMAIL_TASK, alert_email_send
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


@shared_task(name=ALERT_EMAIL_TASK, bind=True, acks_late=True, max_retries=5, default_retry_delay=60)
def alert_email(self: Any, alert_id: int, subject: str, body: str) -> int:
    try:
        return alert_email_send(alert_id=alert_id, subject=subject, body=body)
    except Exception as err:  # SMTP raises many types; alert_email_send logged it
        if self.request.is_eager:
            return 0
        raise self.retry(exc=err) from err
