"""Reads of alerts. A tenant's people read only their tenant's customer-facing alerts
(alerts_for_tenant); finance reads everything (alerts_all, with filters)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import Count, Max, Min, Q, QuerySet

from ledger.models import Alert
from ledger.models.alerts import CUSTOMER_KINDS
from tenants.models import Membership, Role, Tenant


@dataclass(frozen=True)
class AlertGroup:
    """Alerts sharing a group_key (by default kind and tenant): counts per state and the latest one."""

    group_key: str
    kind: str
    tenant_id: int | None
    firing: int
    acknowledged: int
    resolved: int
    first_at: datetime
    last_at: datetime

    @property
    def open(self) -> int:
        return self.firing + self.acknowledged

    @property
    def kind_label(self) -> str:
        return str(Alert.Kind(self.kind).label) if self.kind in Alert.Kind.values else self.kind


def alerts_open() -> QuerySet[Alert]:
    """Every firing or acknowledged alert, newest first."""
    return Alert.objects.exclude(state=Alert.State.RESOLVED).order_by("-created_at", "-pk")


def alerts_for_tenant(*, tenant: Tenant, state: str | None = None) -> QuerySet[Alert]:
    """The tenant's customer-facing alerts, newest first (another tenant's: none)."""
    alerts = Alert.objects.filter(tenant=tenant, kind__in=sorted(CUSTOMER_KINDS))
    if state:
        alerts = alerts.filter(state=state)
    return alerts.order_by("-created_at", "-pk")


def alert_for_tenant(*, tenant: Tenant, alert_id: int) -> Alert | None:
    return alerts_for_tenant(tenant=tenant).filter(pk=alert_id).first()


def alerts_all(
    *, state: str | None = None, kind: str | None = None, tenant_id: int | None = None
) -> QuerySet[Alert]:
    """Finance's view: every alert, optionally filtered, newest first."""
    alerts = Alert.objects.select_related("tenant", "acknowledged_by")
    if state:
        alerts = alerts.filter(state=state)
    if kind:
        alerts = alerts.filter(kind=kind)
    if tenant_id is not None:
        alerts = alerts.filter(tenant_id=tenant_id)
    return alerts.order_by("-created_at", "-pk")


def alert_get(*, alert_id: int) -> Alert | None:
    return Alert.objects.select_related("tenant", "acknowledged_by").filter(pk=alert_id).first()


def alert_groups(alerts: QuerySet[Alert]) -> list[AlertGroup]:
    """The alerts grouped by group_key, with counts per state; groups with open alerts first, then the
    most recent."""
    rows = (
        alerts.order_by()
        .values("group_key", "kind", "tenant_id")
        .annotate(
            firing=Count("pk", filter=Q(state=Alert.State.FIRING)),
            acknowledged=Count("pk", filter=Q(state=Alert.State.ACKNOWLEDGED)),
            resolved=Count("pk", filter=Q(state=Alert.State.RESOLVED)),
            first_at=Min("created_at"),
            last_at=Max("last_seen_at"),
        )
    )
    groups = [AlertGroup(**row) for row in rows]
    return sorted(groups, key=lambda g: (g.open == 0, -g.last_at.timestamp(), g.group_key))


def alert_email_recipients(*, alert: Alert) -> list[str]:
    """Who gets an alert by email: the tenant's customer admins for a customer-facing alert, else the
    platform's ALERT_EMAILS."""
    if alert.for_customer:
        emails = Membership.objects.filter(
            tenant=alert.tenant, role=Role.CUSTOMER_ADMIN, user__is_active=True
        ).values_list("user__email", flat=True)
        return sorted({e for e in emails if e})
    return list(getattr(settings, "ALERT_EMAILS", []))
