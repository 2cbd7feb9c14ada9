"""Writes of outbound webhooks (docs/webhooks.md): endpoints (create with a secret shown once, disable,
enable, rotate the secret, delete), deliveries (one per endpoint and event, replay) and one delivery
attempt (POST, log row, then succeeded, retry later with full-jitter backoff, or dead letter).

Deliveries are written inside the caller's transaction and published after commit to the task
`WEBHOOK_DELIVER_TASK` by name (it lives in ledger.alerts.tasks, which fires the dead letter's alert);
a lost publish is picked up by the sweep (deliveries due by next_attempt_at). No HTTP call runs inside
a database transaction: an attempt leases the delivery, posts, then records the outcome."""

from __future__ import annotations

import json
import logging
import random
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from celery import current_app
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from common.errors import Conflict, FieldIssue, StateError, ValidationFailed
from tenants.models import Tenant, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from tenants.webhooks import http
from tenants.webhooks.backoff import backoff_delay
from tenants.webhooks.signing import HEADER, signature_header

logger = logging.getLogger(__name__)

WEBHOOK_DELIVER_TASK = "ledger.webhook_deliver"
EVENT_TYPES = ("alert.fired", "alert.resolved")
SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
ROTATION_GRACE = timedelta(hours=24)
MAX_ENDPOINTS_PER_TENANT = 10
Status = WebhookDelivery.Status


@dataclass(frozen=True)
class EndpointWithSecret:
    """An endpoint and its new secret: the only time the secret is shown."""

    endpoint: WebhookEndpoint
    secret: str


@dataclass(frozen=True)
class AttemptResult:
    delivery: WebhookDelivery | None
    outcome: str  # succeeded | retry | dead | cancelled | skipped | dropped (endpoint deleted mid-POST)
    retry_in: float | None = None


def _new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def webhook_endpoint_create(
    *,
    tenant: Tenant,
    url: str,
    description: str = "",
    event_types: Iterable[str] = (),
    now: datetime | None = None,
) -> EndpointWithSecret:
    url = url.strip()
    types = sorted(set(event_types))
    issues = []
    problem = http.url_problem(url) if len(url) <= 500 else "the URL is longer than 500 characters"
    if problem:
        issues.append(FieldIssue("url", problem))
    unknown = [t for t in types if t not in EVENT_TYPES]
    if unknown:
        issues.append(FieldIssue("event_types", f"unknown event types: {', '.join(unknown)}"))
    if len(description) > 200:
        issues.append(FieldIssue("description", "at most 200 characters"))
    if issues:
        raise ValidationFailed("invalid webhook endpoint", issues=issues)
    secret = _new_secret()
    with transaction.atomic():
        Tenant.objects.select_for_update().get(pk=tenant.pk)  # the count below holds against a racing create
        if WebhookEndpoint.objects.filter(tenant=tenant).count() >= MAX_ENDPOINTS_PER_TENANT:
            raise Conflict(f"a tenant has at most {MAX_ENDPOINTS_PER_TENANT} webhook endpoints")
        endpoint = WebhookEndpoint.objects.create(
            tenant=tenant,
            url=url,
            description=description,
            secret=secret,
            event_types=types,
            created_at=now or timezone.now(),
        )
    return EndpointWithSecret(endpoint=endpoint, secret=secret)


def webhook_endpoint_disable(*, endpoint: WebhookEndpoint, now: datetime | None = None) -> WebhookEndpoint:
    """No more deliveries: the endpoint's pending ones are cancelled."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        if locked.active:
            locked.active, locked.disabled_at = False, now
            locked.save(update_fields=["active", "disabled_at"])
            WebhookDelivery.objects.filter(
                endpoint=locked, status__in=[Status.PENDING, Status.FAILED]
            ).update(status=Status.CANCELLED, next_attempt_at=None, completed_at=now)
    return locked


def webhook_endpoint_enable(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    with transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        locked.active, locked.disabled_at = True, None
        locked.save(update_fields=["active", "disabled_at"])
    return locked


def webhook_endpoint_rotate_secret(
    *, endpoint: WebhookEndpoint, now: datetime | None = None
) -> EndpointWithSecret:
    """A new secret (shown once); the previous one still signs for ROTATION_GRACE, so the customer can
    switch without failing verifications."""
    now = now or timezone.now()
    secret = _new_secret()
    with transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        locked.previous_secret, locked.previous_secret_expires_at = locked.secret, now + ROTATION_GRACE
        locked.secret = secret
        locked.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at"])
    return EndpointWithSecret(endpoint=locked, secret=secret)


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    """The endpoint and its delivery log go."""
    with transaction.atomic():
        WebhookEndpoint.objects.filter(pk=endpoint.pk).delete()


def webhook_deliveries_create(
    *, tenant_id: int, event_type: str, event_id: str, payload: dict[str, object], now: datetime
) -> list[int]:
    """One pending delivery per active endpoint of the tenant that takes this event type, published once
    the caller's transaction commits."""
    endpoints = [
        e
        for e in WebhookEndpoint.objects.filter(tenant_id=tenant_id, active=True)
        if not e.event_types or event_type in e.event_types
    ]
    rows = WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(
                endpoint=e,
                event_id=event_id,
                event_type=event_type,
                payload=payload,
                created_at=now,
                next_attempt_at=now,
            )
            for e in endpoints
        ]
    )
    ids = [row.pk for row in rows]
    deliveries_publish(ids)
    return ids


def webhook_delivery_replay(*, delivery: WebhookDelivery, now: datetime | None = None) -> WebhookDelivery:
    """A new delivery of the same event (same event_id and payload) to the same endpoint."""
    now = now or timezone.now()
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=delivery.endpoint_id)
        if not endpoint.active:
            raise StateError("the endpoint is disabled: enable it before replaying")
        replay = WebhookDelivery.objects.create(
            endpoint=endpoint,
            event_id=delivery.event_id,
            event_type=delivery.event_type,
            payload=delivery.payload,
            created_at=now,
            next_attempt_at=now,
            replay_of=delivery,
        )
        deliveries_publish([replay.pk])
    return replay


def deliveries_publish(ids: list[int]) -> None:
    """Publish one attempt task per delivery after commit; a failed publish is logged (the sweep finds
    the deliveries due)."""
    if ids:
        transaction.on_commit(lambda: _publish(ids))


def _publish(ids: list[int]) -> None:
    try:
        task = current_app.tasks[WEBHOOK_DELIVER_TASK]
        for delivery_id in ids:
            task.apply_async(args=(delivery_id,))
    # After commit nothing may raise into the committed caller, and kombu raises many types.
    except Exception:
        logger.warning("webhook deliveries %s not published; the sweep retries them", ids, exc_info=True)


def body_bytes(payload: object) -> bytes:
    """The exact bytes posted (and signed): compact JSON with sorted keys."""
    return json.dumps(payload, cls=DjangoJSONEncoder, sort_keys=True, separators=(",", ":")).encode()


def _signing_secrets(endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    expires = endpoint.previous_secret_expires_at
    in_grace = endpoint.previous_secret and expires is not None and now < expires
    return [endpoint.secret, endpoint.previous_secret] if in_grace else [endpoint.secret]


def webhook_delivery_attempt(
    *, delivery_id: int, now: datetime | None = None, rand: random.Random | None = None
) -> AttemptResult:
    """Try the delivery once if it is due: POST it signed, log the attempt, then mark it succeeded (2xx),
    dead (settings.WEBHOOK_MAX_ATTEMPTS reached) or failed with its next attempt after a full-jitter
    backoff. Not due, final or leased by another worker: skipped."""
    now = now or timezone.now()
    timeout = float(settings.WEBHOOK_TIMEOUT_SECONDS)
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("endpoint")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None or delivery.is_final or (delivery.next_attempt_at or now) > now:
            return AttemptResult(delivery, "skipped")
        endpoint = delivery.endpoint
        if not endpoint.active:
            _finish(delivery, Status.CANCELLED, now, fields=[])
            return AttemptResult(delivery, "cancelled")
        delivery.next_attempt_at = now + timedelta(seconds=timeout + 60)  # the lease while we post
        delivery.save(update_fields=["next_attempt_at"])
    body = body_bytes(delivery.payload)
    attempt_number = delivery.attempts + 1
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "billing-webhooks/1",
        HEADER: signature_header(_signing_secrets(endpoint, now), int(now.timestamp()), body),
        "Billing-Event-Id": delivery.event_id,
        "Billing-Event-Type": delivery.event_type,
        "Billing-Delivery-Attempt": str(attempt_number),
    }
    response = http.post(endpoint.url, body, headers, timeout=timeout)
    return _record(delivery_id=delivery.pk, response=response, now=now, rand=rand)


def _record(
    *, delivery_id: int, response: http.Response, now: datetime, rand: random.Random | None
) -> AttemptResult:
    """Log the attempt and move the delivery, re-read under its lock: the endpoint may have been disabled
    (the delivery is cancelled, final: the attempt is logged, the status stays), deleted (delivery and log
    are gone: the attempt is dropped) or finished by another worker while we posted."""
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().filter(pk=delivery_id).first()
        if delivery is None:
            logger.info("webhook delivery %s deleted during its attempt: attempt dropped", delivery_id)
            return AttemptResult(None, "dropped")
        delivery.attempts += 1
        WebhookAttempt.objects.create(
            delivery=delivery,
            number=delivery.attempts,
            at=now,
            status_code=response.status_code,
            duration_ms=response.duration_ms,
            error=response.error,
        )
        delivery.last_status_code = response.status_code
        delivery.last_error = response.error
        fields = ["attempts", "last_status_code", "last_error"]
        if delivery.is_final:
            delivery.save(update_fields=fields)
            outcome = "cancelled" if delivery.status == Status.CANCELLED else "skipped"
            return AttemptResult(delivery, outcome)
        if response.ok:
            _finish(delivery, Status.SUCCEEDED, now, fields=fields)
            return AttemptResult(delivery, "succeeded")
        if delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
            _finish(delivery, Status.DEAD, now, fields=fields)
            logger.warning("webhook delivery %s dead after %s attempts", delivery.pk, delivery.attempts)
            return AttemptResult(delivery, "dead")
        delay = backoff_delay(
            delivery.attempts,
            base=settings.WEBHOOK_BACKOFF_BASE_SECONDS,
            cap=settings.WEBHOOK_BACKOFF_CAP_SECONDS,
            rand=rand,
        )
        delivery.status = Status.FAILED
        delivery.next_attempt_at = now + timedelta(seconds=delay)
        delivery.save(update_fields=[*fields, "status", "next_attempt_at"])
        return AttemptResult(delivery, "retry", retry_in=delay)


def _finish(delivery: WebhookDelivery, status: str, now: datetime, *, fields: list[str]) -> None:
    delivery.status, delivery.next_attempt_at, delivery.completed_at = status, None, now
    delivery.save(update_fields=[*fields, "status", "next_attempt_at", "completed_at"])
