"""The alert side of webhook deliveries: an attempt that dead-letters fires a WEBHOOK_DEAD alert to the
tenant (key: the endpoint), and a later success to that endpoint resolves it. Here, not in
tenants.webhooks, because the tenants layer may not import the alerts (ledger)."""

from __future__ import annotations

import random
from datetime import datetime

from django.utils import timezone

from ledger.alerts.services import alert_fire, alert_resolve
from ledger.models import Alert
from tenants.models import WebhookEndpoint
from tenants.webhooks.selectors import webhook_deliveries_due
from tenants.webhooks.services import AttemptResult, deliveries_publish, webhook_delivery_attempt


def endpoint_key(endpoint_id: int) -> str:
    return f"endpoint:{endpoint_id}"


def webhook_delivery_run(
    *, delivery_id: int, now: datetime | None = None, rand: random.Random | None = None
) -> AttemptResult:
    """One attempt of the delivery, then the dead letter's alert fired or resolved."""
    now = now or timezone.now()
    result = webhook_delivery_attempt(delivery_id=delivery_id, now=now, rand=rand)
    delivery = result.delivery
    if delivery is None:
        return result
    endpoint = delivery.endpoint
    if result.outcome == "dead":
        alert_fire(
            kind=Alert.Kind.WEBHOOK_DEAD,
            tenant_id=endpoint.tenant_id,
            key=endpoint_key(endpoint.pk),
            message=(
                f"Webhook deliveries to {endpoint.url} are failing: event {delivery.event_id} "
                f"({delivery.event_type}) was dead-lettered after {delivery.attempts} attempts "
                f"(last: {delivery.last_status_code or delivery.last_error or 'no response'})"
            ),
            severity=Alert.Severity.WARNING,
            details={
                "endpoint_id": endpoint.pk,
                "url": endpoint.url,
                "delivery_id": delivery.pk,
                "event_id": delivery.event_id,
                "attempts": delivery.attempts,
                "last_status_code": delivery.last_status_code,
                "last_error": delivery.last_error,
            },
            now=now,
        )
    elif result.outcome == "succeeded":
        alert_resolve(
            kind=Alert.Kind.WEBHOOK_DEAD, tenant_id=endpoint.tenant_id, key=endpoint_key(endpoint.pk), now=now
        )
    return result


def webhook_endpoint_removed(*, endpoint: WebhookEndpoint, now: datetime | None = None) -> None:
    """A disabled or deleted endpoint's dead-letter alert has nothing left to track: resolved."""
    alert_resolve(
        kind=Alert.Kind.WEBHOOK_DEAD, tenant_id=endpoint.tenant_id, key=endpoint_key(endpoint.pk), now=now
    )


def webhook_deliveries_sweep(*, now: datetime | None = None) -> int:
    """Publish every delivery whose attempt is due (lost publishes, retries); returns how many."""
    ids = webhook_deliveries_due(now=now or timezone.now())
    deliveries_publish(ids)
    return len(ids)
