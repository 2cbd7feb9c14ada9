"""The alert's life cycle (docs/alerts.md): fire (or, while open, update: dedup by signature), acknowledge,
resolve. Notifications go out when an alert fires and when it resolves, never on a dedup repeat or an
acknowledgement (ledger.alerts.notify: webhook deliveries written in the same transaction, emails and
task publishes after commit). Old callers' alert_raise / alerts_resolve are wrappers (key = message)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from common.errors import StateError, ValidationFailed
from ledger.alerts import notify
from ledger.alerts.signature import alert_group_key, alert_signature
from ledger.models import Alert

logger = logging.getLogger(__name__)

FIRED = "alert.fired"
RESOLVED = "alert.resolved"


def alert_fire(
    *,
    kind: str,
    tenant_id: int | None,
    key: str,
    message: str,
    severity: str = Alert.Severity.WARNING,
    details: dict[str, object] | None = None,
    now: datetime | None = None,
    invoice_id: int | None = None,
    group_key: str | None = None,
) -> Alert:
    """The open alert of (kind, tenant, key), updated (last_seen_at, occurrences + 1, message, details,
    severity) when there is one, and nothing notified; otherwise a new firing alert, notified."""
    if kind not in Alert.Kind.values:
        raise ValidationFailed(f"unknown alert kind {kind!r}")
    if severity not in Alert.Severity.values:
        raise ValidationFailed(f"unknown alert severity {severity!r}")
    now = now or timezone.now()
    signature = alert_signature(kind=kind, tenant_id=tenant_id, key=key)
    with transaction.atomic():
        existing = _open_by_signature(signature)
        if existing is not None:
            return _seen_again(existing, message=message, severity=severity, details=details, now=now)
        try:
            with transaction.atomic():  # a savepoint: a concurrent fire of the same signature may win
                alert = Alert.objects.create(
                    kind=kind,
                    tenant_id=tenant_id,
                    invoice_id=invoice_id,
                    key=key,
                    signature=signature,
                    group_key=group_key or alert_group_key(kind=kind, tenant_id=tenant_id),
                    severity=severity,
                    message=message,
                    details=details or {},
                    created_at=now,
                    last_seen_at=now,
                )
        except IntegrityError:
            winner = _open_by_signature(signature)
            if winner is None:
                raise
            return _seen_again(winner, message=message, severity=severity, details=details, now=now)
        logger.error("alert %s fired (tenant %s): %s", kind, tenant_id, message)
        notify.alert_notify(alert=alert, event_type=FIRED, now=now)
    return alert


def alert_resolve(*, kind: str, tenant_id: int | None, key: str, now: datetime | None = None) -> Alert | None:
    """Resolve the open alert of (kind, tenant, key), if any (notified)."""
    signature = alert_signature(kind=kind, tenant_id=tenant_id, key=key)
    with transaction.atomic():
        alert = _open_by_signature(signature)
        if alert is None:
            return None
        _resolve(alert, now=now or timezone.now())
    return alert


def alerts_resolve_except(
    *, kind: str, tenant_id: int | None, keys_firing: Iterable[str], now: datetime | None = None
) -> int:
    """Resolve (and notify) every open alert of this kind and tenant (None: platform alerts only) whose key
    is not in keys_firing: an evaluator calls it after each evaluation with the keys it found firing."""
    firing = set(keys_firing)
    now = now or timezone.now()
    with transaction.atomic():
        stale = [a for a in _open(kind=kind, tenant_id=tenant_id).select_for_update() if a.key not in firing]
        for alert in stale:
            _resolve(alert, now=now)
    return len(stale)


def alerts_resolve_for_invoices(*, kind: str, invoice_ids: Iterable[int], now: datetime | None = None) -> int:
    """Resolve (and notify) the open alerts of this kind raised about these invoices."""
    now = now or timezone.now()
    with transaction.atomic():
        alerts = list(
            Alert.objects.select_for_update()
            .filter(kind=kind, invoice_id__in=list(invoice_ids))
            .exclude(state=Alert.State.RESOLVED)
        )
        for alert in alerts:
            _resolve(alert, now=now)
    return len(alerts)


def alert_acknowledge(*, alert: Alert, actor: AbstractBaseUser, now: datetime | None = None) -> Alert:
    """Someone has seen it and is on it: firing -> acknowledged (not notified). Acknowledging an
    acknowledged alert changes nothing; a resolved one cannot be acknowledged."""
    with transaction.atomic():
        locked = Alert.objects.select_for_update().get(pk=alert.pk)
        if locked.state == Alert.State.RESOLVED:
            raise StateError("this alert is resolved: there is nothing to acknowledge")
        if locked.state == Alert.State.FIRING:
            locked.state = Alert.State.ACKNOWLEDGED
            locked.acknowledged_at = now or timezone.now()
            locked.acknowledged_by_id = actor.pk
            locked.save(update_fields=["state", "acknowledged_at", "acknowledged_by"])
    return locked


def alert_resolve_manually(*, alert: Alert, actor: AbstractBaseUser, now: datetime | None = None) -> Alert:
    """Finance closes an alert by hand (the cause is gone, or it is not worth tracking): resolved and
    notified as any resolution; if the condition is still there, the next evaluation fires it again."""
    with transaction.atomic():
        locked = Alert.objects.select_for_update().get(pk=alert.pk)
        if locked.state == Alert.State.RESOLVED:
            raise StateError("this alert is already resolved")
        locked.details = {**locked.details, "resolved_by": actor.get_username()}
        _resolve(locked, now=now or timezone.now(), extra_fields=["details"])
    return locked


# Old roads, kept for their callers: the message is the key.


def alert_raise(*, kind: str, tenant_id: int | None, message: str, now: datetime | None = None) -> Alert:
    """The open alert of this kind, tenant and message, fired when there is none."""
    return alert_fire(kind=kind, tenant_id=tenant_id, key=message, message=message, now=now)


def alerts_resolve(*, kind: str, tenant_ids: Iterable[int], now: datetime | None = None) -> int:
    """Resolve the open alerts of this kind for the tenants that are about no invoice; returns how many."""
    now = now or timezone.now()
    with transaction.atomic():
        alerts = list(
            Alert.objects.select_for_update()
            .filter(kind=kind, tenant_id__in=list(tenant_ids), invoice__isnull=True)
            .exclude(state=Alert.State.RESOLVED)
        )
        for alert in alerts:
            _resolve(alert, now=now)
    return len(alerts)


def _open(*, kind: str, tenant_id: int | None) -> QuerySet[Alert]:
    alerts = Alert.objects.filter(kind=kind).exclude(state=Alert.State.RESOLVED)
    return alerts.filter(tenant__isnull=True) if tenant_id is None else alerts.filter(tenant_id=tenant_id)


def _open_by_signature(signature: str) -> Alert | None:
    return (
        Alert.objects.select_for_update()
        .filter(signature=signature)
        .exclude(state=Alert.State.RESOLVED)
        .first()
    )


def _seen_again(
    alert: Alert, *, message: str, severity: str, details: dict[str, object] | None, now: datetime
) -> Alert:
    alert.last_seen_at = max(now, alert.last_seen_at)
    alert.occurrences += 1
    alert.message = message
    alert.severity = severity
    if details is not None:
        alert.details = details
    alert.save(update_fields=["last_seen_at", "occurrences", "message", "severity", "details"])
    return alert


def _resolve(alert: Alert, *, now: datetime, extra_fields: list[str] | None = None) -> None:
    alert.state = Alert.State.RESOLVED
    alert.resolved_at = now
    alert.save(update_fields=["state", "resolved_at", *(extra_fields or [])])
    logger.info("alert %s resolved (tenant %s): %s", alert.kind, alert.tenant_id, alert.message)
    notify.alert_notify(alert=alert, event_type=RESOLVED, now=now)
