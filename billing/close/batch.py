"""Batch period close: many tenants' periods closed per database transaction, set-based.

`close_periods` is what the beat task and `manage.py close_period` (without `--tenant`) run. It closes
the tenants chunk by chunk; for one chunk, in one transaction:

 1. the chunk's tenant rows are locked FOR UPDATE (in id order, as rating takes its KEY SHARE locks and
    as any other batch closer takes them: no deadlock), then the periods' invoices (FOR UPDATE) and
    BillingPeriod rows (created if missing, FOR UPDATE), each with one statement;
 2. the usage of every tenant is read with one grouped query per distinct period range. This is only
    consistent because the tenant locks are held: rating cannot add usage for these tenants until the
    transaction that marks their periods closed commits (the rating-vs-close guard);
 3. each invoice is computed in memory (`invoice_compute`); a blocked one is stored as blocked (with its
    alert), exactly as `close_period` does;
 4. the others are stored, numbered, posted to the ledger and finalized by
    `ledger.services.invoicing_batch.invoices_issue_many` (one multi-row statement per step, one hash
    chain append for the chunk), and their BillingPeriods marked closed with one UPDATE.

A chunk is all or nothing. If anything in it fails (a check, a constraint, a deadlock), its
transaction rolls back and each of its tenants is closed again on its own by `close_period` (one
transaction per tenant, the interactive path): a tenant that cannot be closed never rolls back the
others' closes. Tenants still inside their grace window get `invoice_refresh_draft` as in
`close_period`."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import DatabaseError, transaction
from django.utils import timezone

from billing.close.cache import CloseCache, document_of
from billing.close.compute import invoice_compute
from billing.close.models import BillingPeriod
from billing.close.services import CloseResult, close_period, invoice_refresh_draft, period_for
from billing.profiles.models import ProfileAssignment, ProfileVersion
from billing.rating.selectors import period_usage_rows_many
from common.errors import ApplicationError
from common.periods import Period
from ledger.models import Invoice
from ledger.services.invoicing import invoice_save_draft_with_lines
from ledger.services.invoicing_batch import IssueRequest, invoices_issue_many
from tenants.models import Tenant

logger = logging.getLogger(__name__)

DEFAULT_CHUNK = 100


@dataclass(frozen=True)
class _Due:
    """A tenant whose period is past its grace window: to be closed in the chunk's transaction."""

    tenant: Tenant
    period: Period
    version: ProfileVersion


def close_periods(
    *,
    tenants: Sequence[Tenant],
    period_key: str | None = None,
    now: datetime | None = None,
    cache: CloseCache | None = None,
    chunk_size: int = DEFAULT_CHUNK,
) -> list[CloseResult]:
    """Close each tenant's period (as `close_period` would, one result per tenant, in order), `chunk_size`
    tenants per transaction. A tenant whose fallback close raises an ApplicationError gets status
    "error" with the message; the others are closed regardless."""
    now = now or timezone.now()
    cache = cache or CloseCache()
    results: list[CloseResult] = []
    for i in range(0, len(tenants), max(chunk_size, 1)):
        results += close_chunk(
            tenants=tenants[i : i + chunk_size], period_key=period_key, now=now, cache=cache
        )
    return results


def close_chunk(
    *, tenants: Sequence[Tenant], period_key: str | None, now: datetime, cache: CloseCache
) -> list[CloseResult]:
    """One chunk of `close_periods` (see the module docstring)."""
    assignments: dict[int, list[ProfileAssignment]] = defaultdict(list)
    for assignment in ProfileAssignment.objects.filter(tenant_id__in=[t.pk for t in tenants]).order_by(
        "tenant_id", "effective_from"
    ):
        assignments[assignment.tenant_id].append(assignment)
    results: dict[int, CloseResult] = {}
    due: list[_Due] = []
    in_grace: list[Tenant] = []
    for tenant in tenants:
        try:
            period, version = period_for(
                tenant=tenant, now=now, period_key=period_key, cache=cache, assignments=assignments[tenant.pk]
            )
        except ApplicationError as err:  # e.g. a period key that does not parse for this tenant's cycle
            results[tenant.pk] = CloseResult(tenant.slug, period_key or "", "error", message=err.message)
            continue
        if version is None:
            results[tenant.pk] = CloseResult(
                tenant.slug, period.key, "nothing_to_bill", message="no profile in force at period end"
            )
        elif now < period.end + timedelta(hours=document_of(version).grace_hours):
            in_grace.append(tenant)
        else:
            due.append(_Due(tenant, period, version))
    if due:
        try:
            with transaction.atomic():
                results.update(_close_locked(due=due, now=now, cache=cache))
        except (ApplicationError, DatabaseError) as err:
            logger.warning("batch close of %d tenants failed (%s); closing them one by one", len(due), err)
            for item in due:
                results[item.tenant.pk] = _one(item.tenant, period_key, now, cache)
    for tenant in in_grace:
        results[tenant.pk] = invoice_refresh_draft(tenant=tenant, period_key=period_key, now=now, cache=cache)
    return [results[t.pk] for t in tenants]


def _one(tenant: Tenant, period_key: str | None, now: datetime, cache: CloseCache) -> CloseResult:
    try:
        return close_period(tenant=tenant, period_key=period_key, now=now, cache=cache)
    except ApplicationError as err:
        return CloseResult(tenant.slug, period_key or "", "error", message=err.message)


def _close_locked(*, due: list[_Due], now: datetime, cache: CloseCache) -> dict[int, CloseResult]:
    ids = sorted(item.tenant.pk for item in due)
    locked = {t.pk: t for t in Tenant.objects.select_for_update().filter(pk__in=ids).order_by("pk")}
    starts = {item.period.start for item in due}
    invoices = {
        (inv.tenant_id, inv.period_start): inv
        for inv in Invoice.objects.select_for_update()
        .filter(tenant_id__in=ids, period_start__in=starts)
        .exclude(status=Invoice.Status.VOID)
    }
    results: dict[int, CloseResult] = {}
    todo: list[_Due] = []
    for item in due:
        existing = invoices.get((item.tenant.pk, item.period.start))
        if existing is not None and existing.is_issued:
            results[item.tenant.pk] = CloseResult(
                item.tenant.slug, item.period.key, "already_closed", existing.pk, existing.number
            )
        else:
            todo.append(item)
    if not todo:
        return results
    periods = _billing_periods_for_update(todo)
    earlier_closed = _with_earlier_closed_period(todo)
    usage_rows: dict[int, list[dict[str, Any]]] = {}
    by_range: dict[tuple[datetime, datetime], list[int]] = defaultdict(list)
    for item in todo:
        by_range[(item.period.start, item.period.end)].append(item.tenant.pk)
    for (start, end), tenant_ids in by_range.items():
        usage_rows.update(period_usage_rows_many(tenant_ids=tenant_ids, start=start, end=end))
    issue: list[IssueRequest] = []
    issued_for: list[_Due] = []
    for item in todo:
        tenant = locked[item.tenant.pk]
        existing = invoices.get((tenant.pk, item.period.start))
        usages = cache.usage_of_rows(
            usage_rows.get(tenant.pk, []),
            tenant_id=tenant.pk,
            start=item.period.start,
            end=item.period.end,
        )
        data = invoice_compute(
            tenant=tenant,
            period=item.period,
            version=item.version,
            cache=cache,
            usages=usages,
            earlier_closed=tenant.pk in earlier_closed,
        )
        if data.blocked_reason:
            invoice, _lines = invoice_save_draft_with_lines(
                data=data, now=now, existing=existing, plan_credits=False
            )
            results[tenant.pk] = CloseResult(
                tenant.slug, item.period.key, "blocked", invoice.pk, None, invoice.blocked_reason
            )
            continue
        issue.append(IssueRequest(data=data, tenant=tenant, existing=existing))
        issued_for.append(item)
    if not issue:
        return results
    BillingPeriod.objects.filter(
        pk__in=[periods[(item.tenant.pk, item.period.start)].pk for item in issued_for]
    ).exclude(status=BillingPeriod.Status.CLOSED).update(status=BillingPeriod.Status.CLOSED, closed_at=now)
    for item, invoice in zip(issued_for, invoices_issue_many(requests=issue, now=now), strict=True):
        results[item.tenant.pk] = CloseResult(
            item.tenant.slug, item.period.key, "finalized", invoice.pk, invoice.number
        )
    return results


def _billing_periods_for_update(items: list[_Due]) -> dict[tuple[int, datetime], BillingPeriod]:
    """The BillingPeriod rows of the items' periods, created if missing (INSERT ... ON CONFLICT DO
    NOTHING), locked, by (tenant id, start)."""
    BillingPeriod.objects.bulk_create(
        [
            BillingPeriod(
                tenant_id=item.tenant.pk, key=item.period.key, start=item.period.start, end=item.period.end
            )
            for item in items
        ],
        ignore_conflicts=True,
    )
    wanted = {(item.tenant.pk, item.period.start) for item in items}
    rows = BillingPeriod.objects.select_for_update().filter(
        tenant_id__in={t for t, _s in wanted}, start__in={s for _t, s in wanted}
    )
    return {(row.tenant_id, row.start): row for row in rows if (row.tenant_id, row.start) in wanted}


def _with_earlier_closed_period(items: list[_Due]) -> set[int]:
    """The items' tenants that have a closed period before the one being closed (only those can have
    late usage that needs a correction line)."""
    start_of = {item.tenant.pk: item.period.start for item in items}
    rows = BillingPeriod.objects.filter(
        tenant_id__in=start_of, status=BillingPeriod.Status.CLOSED, start__lt=max(start_of.values())
    ).values_list("tenant_id", "start")
    return {tenant_id for tenant_id, start in rows if start < start_of[tenant_id]}
