"""Period close: draft previews before the grace window ends, finalization after it.

`close_period` runs per tenant in one database transaction holding the tenant's row lock (and the
BillingPeriod row): closing twice, or two workers at once, never makes two invoices (and the unique
constraint on (tenant, period_start) for non-void invoices would refuse a second one anyway)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from billing.close.cache import CloseCache, document_of
from billing.close.compute import invoice_compute
from billing.close.models import BillingPeriod
from billing.profiles.models import ProfileAssignment, ProfileVersion
from common.errors import NotFound, ValidationFailed
from common.periods import Period, period_by_key, period_containing, previous_period
from ledger.models import Invoice
from ledger.services.invoicing import (
    invoice_finalize,
    invoice_for_period,
    invoice_save_draft,
    invoice_save_draft_with_lines,
)
from tenants.models import Tenant

_TICK = timedelta(microseconds=1)


@dataclass(frozen=True)
class CloseResult:
    tenant_slug: str
    period_key: str
    status: str  # finalized | already_closed | draft | blocked | nothing_to_bill
    invoice_id: int | None = None
    number: str | None = None
    message: str = ""


def _versions_at(
    tenant: Tenant,
    instants: list[datetime],
    cache: CloseCache,
    assignments: list[ProfileAssignment] | None = None,
) -> list[ProfileVersion | None]:
    """The profile version in force for the tenant at each instant (one query for its assignments unless
    the caller already holds them; the versions of each profile are loaded once per close run)."""
    if assignments is None:
        assignments = _assignments(tenant)
    result: list[ProfileVersion | None] = []
    for at in instants:
        held = next(
            (
                a
                for a in assignments
                if a.effective_from <= at and (a.effective_to is None or at < a.effective_to)
            ),
            None,
        )
        result.append(cache.in_force(held.profile_id, at) if held is not None else None)
    return result


def _assignments(tenant: Tenant) -> list[ProfileAssignment]:
    return list(ProfileAssignment.objects.filter(tenant_id=tenant.pk).order_by("effective_from"))


def period_for(
    *,
    tenant: Tenant,
    now: datetime,
    period_key: str | None = None,
    cache: CloseCache | None = None,
    assignments: list[ProfileAssignment] | None = None,
) -> tuple[Period, ProfileVersion | None]:
    """The period to close (by key, or the last one that ended before `now`) and the profile version in
    force at its end, whose billing cycle, grace window, currency, flat fees, discounts, commitments and
    tax mode govern the invoice. The cycle that parses the key is the one of the version in force now."""
    cache = cache or CloseCache()
    if assignments is None:  # read once for both instants (a batch close reads them for many tenants)
        assignments = _assignments(tenant)
    (current,) = _versions_at(tenant, [now], cache, assignments)
    cycle = document_of(current).billing_cycle if current else "monthly"
    if period_key:
        try:
            period = period_by_key(period_key, tz=tenant.timezone, cycle=cycle)
        except ValueError as err:
            raise ValidationFailed(str(err)) from err
    else:
        period = previous_period(
            period_containing(now, tz=tenant.timezone, cycle=cycle), tz=tenant.timezone, cycle=cycle
        )
    (governing,) = (
        _versions_at(tenant, [period.end - _TICK], cache, assignments)
        if period.end - _TICK != now
        else (current,)
    )
    return period, governing


def invoice_refresh_draft(
    *,
    tenant: Tenant,
    period_key: str | None = None,
    now: datetime | None = None,
    cache: CloseCache | None = None,
) -> CloseResult:
    """Recompute and store the draft (preview) of a period that is not finalized yet."""
    now = now or timezone.now()
    cache = cache or CloseCache()
    period, version = period_for(tenant=tenant, now=now, period_key=period_key, cache=cache)
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
    (version,) = _versions_at(tenant, [now], CloseCache())
    cycle = document_of(version).billing_cycle if version else "monthly"
    current = period_containing(now, tz=tenant.timezone, cycle=cycle)
    return invoice_refresh_draft(tenant=tenant, period_key=current.key, now=now)


def close_period(
    *,
    tenant: Tenant,
    period_key: str | None = None,
    now: datetime | None = None,
    cache: CloseCache | None = None,
) -> CloseResult:
    """Close one tenant's period. Before `period.end + grace_hours` this only refreshes the draft; after
    it, the invoice is computed and finalized in one transaction (or stored as blocked, with an alert)."""
    now = now or timezone.now()
    cache = cache or CloseCache()
    period, version = period_for(tenant=tenant, now=now, period_key=period_key, cache=cache)
    if version is None:
        return CloseResult(
            tenant.slug, period.key, "nothing_to_bill", message="no profile in force at period end"
        )
    grace = timedelta(hours=document_of(version).grace_hours)
    if now < period.end + grace:
        return invoice_refresh_draft(tenant=tenant, period_key=period.key, now=now, cache=cache)
    with transaction.atomic():
        locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
        existing = invoice_for_period(tenant_id=tenant.pk, period_start=period.start, lock=True)
        if existing is not None and existing.is_issued:
            return CloseResult(tenant.slug, period.key, "already_closed", existing.pk, existing.number)
        billing_period = _billing_period_for_update(tenant, period)
        data = invoice_compute(tenant=locked, period=period, version=version, cache=cache)
        invoice, lines = invoice_save_draft_with_lines(
            data=data, now=now, existing=existing, plan_credits=False
        )
        if invoice.status == Invoice.Status.BLOCKED:
            return CloseResult(tenant.slug, period.key, "blocked", invoice.pk, None, invoice.blocked_reason)
        if billing_period.status != BillingPeriod.Status.CLOSED:
            billing_period.status = BillingPeriod.Status.CLOSED
            billing_period.closed_at = now
            billing_period.save(update_fields=["status", "closed_at"])
        # Last: the ledger append holds the hash-chain lock until COMMIT, so keep it short.
        invoice = invoice_finalize(invoice=invoice, tenant=locked, now=now, locked=True, lines=lines)
    return CloseResult(tenant.slug, period.key, "finalized", invoice.pk, invoice.number)


def _billing_period_for_update(tenant: Tenant, period: Period) -> BillingPeriod:
    """The tenant's BillingPeriod row for `period`, created if missing (INSERT ... ON CONFLICT DO NOTHING),
    locked."""
    BillingPeriod.objects.bulk_create(
        [BillingPeriod(tenant_id=tenant.pk, key=period.key, start=period.start, end=period.end)],
        ignore_conflicts=True,
    )
    return BillingPeriod.objects.select_for_update().get(tenant_id=tenant.pk, start=period.start)


def close_period_by_slug(
    *, slug: str, period_key: str | None = None, now: datetime | None = None
) -> CloseResult:
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        raise NotFound(f"no tenant {slug!r}")
    return close_period(tenant=tenant, period_key=period_key, now=now)


def tenants_to_close() -> list[int]:
    """Active tenants with a profile assignment (the beat task closes each one's last ended period)."""
    return list(
        Tenant.objects.filter(status=Tenant.Status.ACTIVE, profile_assignments__isnull=False)
        .distinct()
        .order_by("pk")
        .values_list("pk", flat=True)
    )
