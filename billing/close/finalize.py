"""Finalizing due periods, set-based, inside the caller's transaction (one tenant or a chunk of them):

1. the tenants' rows are locked FOR UPDATE in id order (as rating takes its KEY SHARE locks and as any
   other closer takes them: no deadlock), then the periods' invoices and BillingPeriod rows (created if
   missing), each with one statement;
2. a tenant with events of its period that rating has not rated yet is set aside, blocked with the
   reason `usage_pending`: a close never turns on-time usage into late usage; so is a tenant whose period
   a version priced whose approval signature does not verify (reason `signature`, naming the version);
3. the usage of every tenant is read with one grouped query per distinct period range. This is only
   consistent because the tenant locks are held: rating cannot add usage for these tenants until the
   transaction that marks their periods closed commits (the rating-vs-close guard);
4. each invoice is computed in memory (`invoice_compute`); a blocked one is stored as blocked, with its
   alert;
5. the others are stored, numbered, posted to the ledger and finalized by
   `ledger.services.invoicing_batch.invoices_issue_many` (one multi-row statement per step, one hash
   chain append), and their BillingPeriods marked closed with one UPDATE."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Exists, OuterRef

from billing.close.cache import CloseCache
from billing.close.compute import invoice_compute
from billing.close.periods import CloseResult
from billing.profiles.models import ProfileVersion
from billing.profiles.selectors import VersionTimeline
from billing.profiles.signatures import verification_failures
from billing.rating.models import BillingPeriod, UsageAggregate
from billing.rating.selectors import period_usage_rows_many
from billing.usage.models import UsageEvent
from billing.usage.selectors import unrated_event_counts
from common.periods import Period
from ledger.contract import IssueRequest
from ledger.models import Alert, Invoice
from ledger.services.alerts import alert_raise
from ledger.services.invoicing import invoice_save_draft_with_lines
from ledger.services.invoicing_batch import invoices_issue_many
from tenants.models import Tenant

USAGE_PENDING = "usage_pending"
SIGNATURE = "signature"


@dataclass(frozen=True)
class DuePeriod:
    """A tenant whose period is past its grace window, with the version that governs it."""

    tenant: Tenant
    period: Period
    version: ProfileVersion


def close_locked(*, due: list[DuePeriod], now: datetime, cache: CloseCache) -> dict[int, CloseResult]:
    """Close the due periods inside the caller's transaction (see the module docstring); results by
    tenant id."""
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
    todo: list[DuePeriod] = []
    for item in due:
        existing = invoices.get((item.tenant.pk, item.period.start))
        if existing is not None and existing.is_issued:
            results[item.tenant.pk] = CloseResult(
                item.tenant.slug, item.period.key, "already_closed", existing.pk, existing.number
            )
        else:
            todo.append(item)
    todo = _without_unrated_usage(todo, results, now=now)
    todo = _without_unverified_versions(todo, results, now=now)
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
    issued_for: list[DuePeriod] = []
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


def _without_unrated_usage(
    items: list[DuePeriod], results: dict[int, CloseResult], *, now: datetime
) -> list[DuePeriod]:
    """Never finalize over usage that is not rated yet: a tenant with pending events in its period is
    blocked with the reason `usage_pending` and an alert (and closed by a later run, once rating has
    caught up), never invoiced without them. Read under the tenant locks: rating takes KEY SHARE on a tenant, so what it
    was rating has committed by now."""
    by_range: dict[tuple[datetime, datetime], list[int]] = defaultdict(list)
    for item in items:
        by_range[(item.period.start, item.period.end)].append(item.tenant.pk)
    unrated: dict[int, int] = {}
    for (start, end), tenant_ids in by_range.items():
        unrated.update(unrated_event_counts(tenant_ids=tenant_ids, start=start, end=end))
    kept: list[DuePeriod] = []
    for item in items:
        pending = unrated.get(item.tenant.pk, 0)
        if pending:
            results[item.tenant.pk] = CloseResult(
                item.tenant.slug,
                item.period.key,
                "blocked",
                message=f"{USAGE_PENDING}: {pending} events of the period are not rated yet",
            )
            alert_raise(
                kind=Alert.Kind.CLOSE,
                tenant_id=item.tenant.pk,
                message=f"period {item.period.key} waits: {USAGE_PENDING}",
                now=now,
            )
        else:
            kept.append(item)
    return kept


def _without_unverified_versions(
    items: list[DuePeriod], results: dict[int, CloseResult], *, now: datetime
) -> list[DuePeriod]:
    """Never invoice with a version whose approval signature does not verify (billing.profiles.signatures):
    a tenant whose period any such version priced, or whose corrections of earlier periods would re-price
    with one (`_corrected_period_versions`), is blocked with the reason `signature`, naming the version, and
    a `signature` alert (closed by a later run once the version verifies again)."""
    if not items:
        return items
    timeline = VersionTimeline(item.tenant.pk for item in items)
    corrected = _corrected_period_versions(items)
    extra = {pk for pks in corrected.values() for pk in pks} - {v.pk for _t, _l, _h, v in timeline.windows()}
    unverified = dict(timeline.unverified)
    if extra:
        unverified.update(verification_failures(ProfileVersion.objects.filter(pk__in=extra)))
    if not unverified:
        return items
    span = {item.tenant.pk: (item.period.start, item.period.end) for item in items}
    bad: dict[int, set[int]] = defaultdict(set)
    for tenant_id, pks in corrected.items():
        bad[tenant_id].update(pk for pk in pks if pk in unverified)
    for tenant_id, lo, hi, version in timeline.windows():
        start, end = span[tenant_id]
        if version.pk in unverified and lo < end and (hi is None or hi > start):
            bad[tenant_id].add(version.pk)
    for item in items:
        if item.version.pk in unverified:
            bad[item.tenant.pk].add(item.version.pk)
    kept: list[DuePeriod] = []
    for item in items:
        versions = sorted(bad.get(item.tenant.pk, ()))
        if not versions:
            kept.append(item)
            continue
        reasons = "; ".join(unverified[pk] for pk in versions)
        results[item.tenant.pk] = CloseResult(
            item.tenant.slug, item.period.key, "blocked", message=f"{SIGNATURE}: {reasons}"
        )
        alert_raise(
            kind=Alert.Kind.SIGNATURE,
            tenant_id=item.tenant.pk,
            message=f"period {item.period.key} blocked: {reasons}",
            now=now,
        )
    return kept


def _corrected_period_versions(items: list[DuePeriod]) -> dict[int, set[int]]:
    """The versions the corrections of each item's tenant re-price with (billing.close.corrections): of
    its closed periods before the item's that received late usage, the invoices' governing versions and
    the versions their rated usage carries. By tenant id; one query when no period received late usage."""
    before = {item.tenant.pk: item.period.start for item in items}
    late = UsageEvent.objects.filter(
        tenant_id=OuterRef("tenant_id"),
        late=True,  # set by rating only
        status=UsageEvent.Status.ACCEPTED,
        timestamp__gte=OuterRef("start"),
        timestamp__lt=OuterRef("end"),
    )
    found: dict[int, set[int]] = defaultdict(set)
    for row in BillingPeriod.objects.filter(
        tenant_id__in=before, status=BillingPeriod.Status.CLOSED, start__lt=max(before.values())
    ).filter(Exists(late)):
        if row.start >= before[row.tenant_id]:
            continue
        found[row.tenant_id].update(
            pk
            for pk in Invoice.objects.filter(tenant_id=row.tenant_id, period_start=row.start)
            .exclude(status=Invoice.Status.VOID)
            .values_list("profile_version_id", flat=True)
            if pk is not None
        )
        found[row.tenant_id].update(
            UsageAggregate.objects.filter(tenant_id=row.tenant_id, hour__gte=row.start, hour__lt=row.end)
            .values_list("profile_version_id", flat=True)
            .distinct()
        )
    return found


def _billing_periods_for_update(items: list[DuePeriod]) -> dict[tuple[int, datetime], BillingPeriod]:
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


def _with_earlier_closed_period(items: list[DuePeriod]) -> set[int]:
    """The items' tenants that have a closed period before the one being closed (only those can have
    late usage that needs a correction line)."""
    start_of = {item.tenant.pk: item.period.start for item in items}
    rows = BillingPeriod.objects.filter(
        tenant_id__in=start_of, status=BillingPeriod.Status.CLOSED, start__lt=max(start_of.values())
    ).values_list("tenant_id", "start")
    return {tenant_id for tenant_id, start in rows if start < start_of[tenant_id]}
