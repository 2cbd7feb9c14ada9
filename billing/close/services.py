"""Period close: the one road for closing periods. `close_periods` closes a list of tenants (the beat
task's chunks, `manage.py close_period`); `close_period` closes one tenant as a chunk of one.

Tenants are taken in chunks; for each chunk, the periods still inside their grace window get a refreshed
draft, and the due ones are finalized together in one transaction (`finalize.close_locked`). A chunk is
all or nothing: if anything in it fails (a check, a constraint, a deadlock), its transaction rolls back
and each of its tenants is closed again alone, in a transaction of its own, so a tenant that cannot be
closed fails visibly (status `error` with the reason) and never rolls back the others' closes. Closing
twice, or two workers at once, never makes two invoices: the tenant row locks serialize closers and the
unique constraint on (tenant, period_start) for non-void invoices refuses a second one."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.db import DatabaseError, transaction
from django.db.models import Count
from django.utils import timezone

from billing.close.cache import CloseCache, document_of
from billing.close.drafts import invoice_refresh_draft
from billing.close.finalize import SIGNATURE, DuePeriod, close_locked
from billing.close.periods import CloseResult, period_for, tenant_assignments
from common import metrics
from common.errors import ApplicationError, NotFound
from ledger.models import Alert, ChainAnchor, InvoiceLine
from ledger.services.alerts import alert_raise, alerts_resolve
from ledger.services.anchors import chain_anchor_record
from tenants.models import Tenant

logger = logging.getLogger(__name__)

DEFAULT_CHUNK = 100


def close_periods(
    *,
    tenants: Sequence[Tenant],
    period_key: str | None = None,
    now: datetime | None = None,
    cache: CloseCache | None = None,
    chunk_size: int = DEFAULT_CHUNK,
) -> list[CloseResult]:
    """Close each tenant's period, `chunk_size` tenants per transaction; one result per tenant, in
    order. Before `period.end + grace_hours` a period only gets its draft refreshed."""
    started = time.perf_counter()
    now = now or timezone.now()
    cache = cache or CloseCache()
    results: list[CloseResult] = []
    step = max(chunk_size, 1)
    for i in range(0, len(tenants), step):
        chunk = close_chunk(tenants=tenants[i : i + step], period_key=period_key, now=now, cache=cache)
        if any(result.status == "finalized" for result in chunk):
            chain_anchor_record(reason=ChainAnchor.Reason.CLOSE)  # one signed head per chunk that issued
        _record_chunk(chunk)
        results += chunk
    metrics.CLOSE_DURATION.observe(time.perf_counter() - started)
    return results


def _record_chunk(chunk: list[CloseResult]) -> None:
    """A committed chunk's metrics: its results by status, and the invoices it finalized with their
    correction lines (the correction rate per cycle; one grouped query per chunk that issued)."""
    statuses = Counter(result.status for result in chunk)
    for status, n in statuses.items():
        metrics.CLOSE_PERIODS.labels(status=status).inc(n)
    unverified = sum(1 for r in chunk if r.status == "blocked" and r.message.startswith(f"{SIGNATURE}:"))
    if unverified:
        metrics.SIGNATURE_FAILURES.labels(stage="close").inc(unverified)
    finalized = [r.invoice_id for r in chunk if r.status == "finalized" and r.invoice_id is not None]
    if not finalized:
        return
    metrics.INVOICES_FINALIZED.inc(len(finalized))
    corrections = InvoiceLine.objects.filter(
        invoice_id__in=finalized, kind=InvoiceLine.Kind.CORRECTION
    ).aggregate(lines=Count("id"), invoices=Count("invoice_id", distinct=True))
    metrics.CORRECTION_LINES.inc(corrections["lines"])
    metrics.INVOICES_CORRECTED.inc(corrections["invoices"])


def close_period(
    *,
    tenant: Tenant,
    period_key: str | None = None,
    now: datetime | None = None,
    cache: CloseCache | None = None,
) -> CloseResult:
    """Close one tenant's period: `close_periods` with a batch of one."""
    (result,) = close_periods(tenants=[tenant], period_key=period_key, now=now, cache=cache)
    return result


def close_period_by_slug(
    *, slug: str, period_key: str | None = None, now: datetime | None = None
) -> CloseResult:
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        raise NotFound(f"no tenant {slug!r}")
    return close_period(tenant=tenant, period_key=period_key, now=now)


def close_chunk(
    *, tenants: Sequence[Tenant], period_key: str | None, now: datetime, cache: CloseCache
) -> list[CloseResult]:
    """One chunk of `close_periods` (see the module docstring)."""
    assignments = tenant_assignments([t.pk for t in tenants])
    cache.assignments.update(assignments)  # the period's lines read them again (proration by days)
    results: dict[int, CloseResult] = {}
    due: list[DuePeriod] = []
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
            due.append(DuePeriod(tenant, period, version))
    if len(due) == 1:
        results.update(_close_alone(due[0], now=now, cache=cache))
    elif due:
        try:
            with transaction.atomic():
                results.update(close_locked(due=due, now=now, cache=cache))
        except (ApplicationError, DatabaseError) as err:
            logger.warning(
                "close of a chunk of %d tenants failed (%s); closing them one by one", len(due), err
            )
            for item in due:
                results.update(_close_alone(item, now=now, cache=cache))
    for tenant in in_grace:
        results[tenant.pk] = invoice_refresh_draft(
            tenant=tenant, period_key=period_key, now=now, cache=cache, assignments=assignments[tenant.pk]
        )
    _resolve_alerts(results, now=now)
    return [results[t.pk] for t in tenants]


def _resolve_alerts(results: dict[int, CloseResult], *, now: datetime) -> None:
    """A finalized close resolves its tenant's close alerts (raised by a close that waited for unrated
    usage or failed)."""
    finalized = [tenant_id for tenant_id, result in results.items() if result.status == "finalized"]
    if finalized:
        alerts_resolve(kind=Alert.Kind.CLOSE, tenant_ids=finalized, now=now)


def _close_alone(item: DuePeriod, *, now: datetime, cache: CloseCache) -> dict[int, CloseResult]:
    """One tenant's due period in a transaction of its own; a failure is that tenant's `error` result."""
    try:
        with transaction.atomic():
            return close_locked(due=[item], now=now, cache=cache)
    except ApplicationError as err:
        message = err.message
    except DatabaseError as err:
        message = f"database error: {err}".strip()
    alert_raise(
        kind=Alert.Kind.CLOSE,
        tenant_id=item.tenant.pk,
        message=f"close of period {item.period.key} failed: {message}",
        now=now,
    )
    return {item.tenant.pk: CloseResult(item.tenant.slug, item.period.key, "error", message=message)}


def tenants_to_close() -> list[int]:
    """Active tenants with a profile assignment (the beat task closes each one's last ended period)."""
    return list(
        Tenant.objects.filter(status=Tenant.Status.ACTIVE, profile_assignments__isnull=False)
        .distinct()
        .order_by("pk")
        .values_list("pk", flat=True)
    )
