"""Period-close tasks: the beat-scheduled fan-out into chunks of tenants, and the closes it enqueues (a
chunk, or one tenant). Thin: load, call a close service."""

from __future__ import annotations

from celery import shared_task

from billing.close import services as close_services
from tenants.models import Tenant


@shared_task(name="billing.close_due_periods")
def close_due_periods() -> int:
    """Enqueue a close of the last ended period for every active tenant, a chunk of tenants per task (each
    close is a draft refresh until its grace window has passed, and a no-op once it is finalized)."""
    ids = close_services.tenants_to_close()
    step = close_services.DEFAULT_CHUNK
    for i in range(0, len(ids), step):
        close_tenant_periods.delay(ids[i : i + step])
    return len(ids)


@shared_task(name="billing.close_tenant_periods", acks_late=True, max_retries=3, default_retry_delay=60)
def close_tenant_periods(tenant_ids: list[int], period_key: str | None = None) -> list[str]:
    """Close a chunk of tenants' periods in one transaction (`close_services.close_periods`)."""
    tenants = list(Tenant.objects.filter(pk__in=tenant_ids).order_by("pk"))
    results = close_services.close_periods(tenants=tenants, period_key=period_key)
    return [result.status for result in results]


@shared_task(name="billing.close_tenant_period", acks_late=True, max_retries=3, default_retry_delay=60)
def close_tenant_period(tenant_id: int, period_key: str | None = None) -> str:
    tenant = Tenant.objects.get(pk=tenant_id)
    return close_services.close_period(tenant=tenant, period_key=period_key).status
