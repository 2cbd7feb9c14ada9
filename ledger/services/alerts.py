"""Operational alerts that finance and on-call see in the admin: one open alert per (kind, tenant,
message), raised by any app through `alert_raise` and resolved by `alerts_resolve` once the cause is gone.
Raising the same alert again while it is open changes nothing, so a task that retries every few minutes
does not flood the list."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from django.db.models import QuerySet
from django.utils import timezone

from ledger.models import Alert

logger = logging.getLogger(__name__)


def alert_raise(*, kind: str, tenant_id: int | None, message: str, now: datetime | None = None) -> Alert:
    """The open alert of this kind, tenant and message, created when there is none (and logged)."""
    open_alert = _open(kind=kind, tenant_id=tenant_id).filter(message=message).first()
    if open_alert is not None:
        return open_alert
    logger.error("alert %s (tenant %s): %s", kind, tenant_id, message)
    return Alert.objects.create(
        kind=kind, tenant_id=tenant_id, message=message, created_at=now or timezone.now()
    )


def alerts_resolve(*, kind: str, tenant_ids: Iterable[int], now: datetime | None = None) -> int:
    """Resolve the open alerts of this kind for the tenants (one statement); returns how many."""
    return Alert.objects.filter(
        kind=kind, tenant_id__in=list(tenant_ids), invoice__isnull=True, resolved_at__isnull=True
    ).update(resolved_at=now or timezone.now())


def _open(*, kind: str, tenant_id: int | None) -> QuerySet[Alert]:
    alerts = Alert.objects.filter(kind=kind, invoice__isnull=True, resolved_at__isnull=True)
    return alerts.filter(tenant__isnull=True) if tenant_id is None else alerts.filter(tenant_id=tenant_id)
