"""Notifications of an alert firing or resolving (docs/alerts.md). Called by the services inside their
transaction: a customer-facing alert's webhook deliveries are written there (an outbox: they exist exactly
when the alert's change committed) and their tasks published after commit; emails are a Celery task
(`ALERT_EMAIL_TASK`, in ledger.alerts.tasks) published after commit, so no request or evaluator waits on
SMTP (which has settings.EMAIL_TIMEOUT). Nothing here raises into a committed caller: a failed publish is
logged (and the deliveries stay due for the webhook sweep)."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from celery import current_app
from django.core.mail import EmailMessage, get_connection
from django.db import transaction

from ledger.alerts.selectors import alert_email_recipients
from ledger.models import Alert
from tenants.webhooks.services import webhook_deliveries_create

logger = logging.getLogger(__name__)
ALERT_EMAIL_TASK = "ledger.alert_email"


def alert_payload(*, alert: Alert, event_type: str, event_id: str, now: datetime) -> dict[str, object]:
    """The event's body: {"id", "type", "created_at", "data": the alert's fields} (JSON-ready)."""

    def stamp(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "id": event_id,
        "type": event_type,
        "created_at": now.isoformat(),
        "data": {
            "id": alert.pk,
            "kind": alert.kind,
            "state": alert.state,
            "severity": alert.severity,
            "tenant": alert.tenant.slug if alert.tenant is not None else None,
            "key": alert.key,
            "group_key": alert.group_key,
            "message": alert.message,
            "details": alert.details,
            "occurrences": alert.occurrences,
            "fired_at": stamp(alert.created_at),
            "last_seen_at": stamp(alert.last_seen_at),
            "acknowledged_at": stamp(alert.acknowledged_at),
            "resolved_at": stamp(alert.resolved_at),
        },
    }


def alert_notify(*, alert: Alert, event_type: str, now: datetime) -> None:
    """Notify one event of the alert (inside the caller's transaction)."""
    payload = alert_payload(alert=alert, event_type=event_type, event_id=str(uuid.uuid4()), now=now)
    if alert.for_customer and alert.tenant_id is not None:
        webhook_deliveries_create(
            tenant_id=alert.tenant_id,
            event_type=event_type,
            event_id=str(payload["id"]),
            payload=payload,
            now=now,
        )
    subject = f"[{alert.severity}] {alert.get_kind_display()} {event_type.removeprefix('alert.')}"
    if alert.tenant is not None:
        subject += f" ({alert.tenant.name})"
    body = _email_body(payload)
    transaction.on_commit(lambda: _email_publish(alert_id=alert.pk, subject=subject, body=body))


def _email_body(payload: dict[str, object]) -> str:
    data = payload["data"]
    assert isinstance(data, dict)
    lines = [str(data["message"]), ""]
    lines += [
        f"{name}: {data[name]}" for name in ("kind", "state", "severity", "tenant", "fired_at", "resolved_at")
    ]
    if data["details"]:
        lines += ["", "details:"] + [f"  {k}: {v}" for k, v in dict(data["details"]).items()]
    lines += ["", f"event {payload['id']} ({payload['type']})"]
    return "\n".join(lines)


def _email_publish(*, alert_id: int, subject: str, body: str) -> None:
    try:
        current_app.tasks[ALERT_EMAIL_TASK].apply_async(
            kwargs={"alert_id": alert_id, "subject": subject, "body": body}
        )
    # After commit nothing may raise into the committed caller, and kombu raises many types.
    except Exception:
        logger.warning("alert %s: email task not published (%s)", alert_id, subject, exc_info=True)


def alert_email_send(*, alert_id: int, subject: str, body: str) -> int:
    """Email the alert's recipients now (the task's body); how many messages went. SMTP errors raise
    (the task retries them)."""
    alert = Alert.objects.select_related("tenant").filter(pk=alert_id).first()
    if alert is None:
        return 0
    recipients = alert_email_recipients(alert=alert)
    if not recipients:
        return 0
    messages = [EmailMessage(subject=subject, body=body, to=[to]) for to in recipients]
    try:
        return get_connection().send_messages(messages) or 0
    except Exception:  # SMTP raises many types: logged with the recipients, raised for the retry
        logger.warning("alert %s: email to %s not sent", alert_id, recipients, exc_info=True)
        raise
