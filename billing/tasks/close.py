"""Period-close tasks: the beat-scheduled fan-out and the per-tenant close. Thin: load, call a service."""

from __future__ import annotations

from celery import shared_task

from billing.services import close as close_services
from tenants.models import Tenant


@shared_task(name="billing.close_due_periods")
def close_due_periods() -> int:
    """Enqueue a close of the last ended period for every active tenant (each one is a no-op until its
    grace window has passed, and once it is finalized)."""
    ids = close_services.tenants_to_close()
    for tenant_id in ids:
        close_tenant_period.delay(tenant_id)
    return len(ids)


@shared_task(name="billing.close_tenant_period", acks_late=True, max_retries=3, default_retry_delay=60)
def close_tenant_period(tenant_id: int, period_key: str | None = None) -> str:
    tenant = Tenant.objects.get(pk=tenant_id)
    return close_services.close_period(tenant=tenant, period_key=period_key).status
