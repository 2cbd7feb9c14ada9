"""Reads of webhooks. Everything a tenant's people see goes through a function taking the tenant: another
tenant's endpoint or delivery is None / empty (404)."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, Q, QuerySet

from tenants.models import Tenant, WebhookDelivery, WebhookEndpoint


def webhook_endpoints_for_tenant(*, tenant: Tenant) -> QuerySet[WebhookEndpoint]:
    """The tenant's endpoints with counts of their deliveries by outcome."""
    return WebhookEndpoint.objects.filter(tenant=tenant).annotate(
        succeeded=Count("deliveries", filter=Q(deliveries__status=WebhookDelivery.Status.SUCCEEDED)),
        retrying=Count(
            "deliveries",
            filter=Q(deliveries__status__in=[WebhookDelivery.Status.PENDING, WebhookDelivery.Status.FAILED]),
        ),
        dead=Count("deliveries", filter=Q(deliveries__status=WebhookDelivery.Status.DEAD)),
    )


def webhook_endpoint_for_tenant(*, tenant: Tenant, endpoint_id: int) -> WebhookEndpoint | None:
    return WebhookEndpoint.objects.filter(tenant=tenant, pk=endpoint_id).first()


def webhook_deliveries_for_endpoint(*, tenant: Tenant, endpoint_id: int) -> QuerySet[WebhookDelivery]:
    """The endpoint's delivery log, newest first, with each delivery's attempts."""
    return (
        WebhookDelivery.objects.filter(endpoint__tenant=tenant, endpoint_id=endpoint_id)
        .prefetch_related("attempt_log")
        .order_by("-created_at", "-pk")
    )


def webhook_delivery_for_tenant(*, tenant: Tenant, delivery_id: int) -> WebhookDelivery | None:
    return WebhookDelivery.objects.filter(endpoint__tenant=tenant, pk=delivery_id).first()


def webhook_deliveries_dead(*, tenant_id: int | None = None) -> QuerySet[WebhookDelivery]:
    """Finance's view: dead-lettered deliveries of every tenant (or one), newest first."""
    dead = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.DEAD).select_related(
        "endpoint__tenant"
    )
    if tenant_id is not None:
        dead = dead.filter(endpoint__tenant_id=tenant_id)
    return dead.prefetch_related("attempt_log").order_by("-completed_at", "-pk")


def webhook_deliveries_due(*, now: datetime, limit: int = 500) -> list[int]:
    """Deliveries whose next attempt is due (a lost publish, a retry whose message was lost)."""
    return list(
        WebhookDelivery.objects.filter(
            status__in=[WebhookDelivery.Status.PENDING, WebhookDelivery.Status.FAILED],
            next_attempt_at__lte=now,
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
