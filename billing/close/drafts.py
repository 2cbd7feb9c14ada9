"""Draft invoices (previews): a period that is not finalized yet is computed and stored as a draft, under
the tenant's row lock, so customers and finance see the running invoice before the grace window ends."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from billing.close.cache import CloseCache, document_of
from billing.close.compute import invoice_compute
from billing.close.periods import CloseResult, period_for, tenant_assignments, version_at
from billing.profiles.models import ProfileAssignment
from common.periods import period_containing
from ledger.models import Invoice
from ledger.services.invoicing import invoice_for_period, invoice_save_draft
from tenants.models import Tenant


def invoice_refresh_draft(
    *,
    tenant: Tenant,
    period_key: str | None = None,
    now: datetime | None = None,
    cache: CloseCache | None = None,
    assignments: Sequence[ProfileAssignment] | None = None,
) -> CloseResult:
    """Recompute and store the draft (preview) of a period that is not finalized yet (`assignments`: the
    tenant's, when the caller has read them already)."""
    now = now or timezone.now()
    cache = cache or CloseCache()
    if assignments is None:
        assignments = tenant_assignments([tenant.pk])[tenant.pk]
    period, version = period_for(
        tenant=tenant, now=now, period_key=period_key, cache=cache, assignments=assignments
    )
    if version is None:
        return CloseResult(
            tenant.slug, period.key, "nothing_to_bill", message="no profile in force at period end"
        )
    with transaction.atomic():
        Tenant.objects.select_for_update().get(pk=tenant.pk)
        existing = invoice_for_period(tenant_id=tenant.pk, period_start=period.start, lock=True)
        if existing is not None and existing.is_issued:
            return CloseResult(tenant.slug, period.key, "already_closed", existing.pk, existing.number)
        data = invoice_compute(tenant=tenant, period=period, version=version, cache=cache)
        invoice = invoice_save_draft(data=data, now=now, existing=existing)
    status = "blocked" if invoice.status == Invoice.Status.BLOCKED else "draft"
    return CloseResult(tenant.slug, period.key, status, invoice.pk, None, invoice.blocked_reason)


def invoice_preview(*, tenant: Tenant, now: datetime | None = None) -> CloseResult:
    """The running draft of the tenant's current (open) period."""
    now = now or timezone.now()
    cache = CloseCache()
    version = version_at(tenant_assignments([tenant.pk])[tenant.pk], now, cache)
    cycle = document_of(version).billing_cycle if version else "monthly"
    current = period_containing(now, tz=tenant.timezone, cycle=cycle)
    return invoice_refresh_draft(tenant=tenant, period_key=current.key, now=now, cache=cache)
