"""What changes next: when an approved price-list version is scheduled for a tenant (a new version of its
profile, or an assignment to another profile, with `effective_from` in the future), what the tenant's last
closed period would have cost under it, next to what it was billed. Pure read: nothing is written (but the
cache entry of `next_change_preview_cached`, what the portal's usage page calls).

The period is re-priced with the close's own road (`period_lines`: usage, flat fees, discounts, minimum;
before tax) over the period's usage as it stands now, as if the scheduled version had been in force for
the whole period: the usage of every version is priced by the scheduled one (a flow's quantities add up;
a level keeps its highest, or latest, value). The invoice side is the lines the invoice billed for its own
period (usage, flat fees, discounts, minimum), before tax; corrections of earlier periods it carried are
left out of both sides. Lines are compared per component (the SKU's usage, its flat fee, a discount code,
the minimum)."""

from __future__ import annotations

import copy
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal

from django.core.cache import cache as django_cache
from django.db.models import Count, Max

from billing.catalog.models import Meter, Sku
from billing.close.cache import CloseCache, document_of
from billing.close.lines import PeriodScope, period_lines
from billing.close.periods import tenant_assignments, version_at
from billing.pricing import DocumentError, ProfileDocument
from billing.profiles.models import BillingProfile, ProfileAssignment, ProfileVersion
from billing.rating.models import UsageAggregate
from billing.rating.selectors import PeriodUsage
from common.breaker import redis_breaker
from common.periods import Period
from ledger.contract import LineData
from ledger.models import Invoice, InvoiceLine
from tenants.models import Tenant

ZERO = Decimal(0)
_FLOWS = frozenset({Meter.Aggregation.SUM, Meter.Aggregation.COUNT})
_CLOSED = (Invoice.Status.FINALIZED, Invoice.Status.PAID)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # a replacing version is in force from before any period
PREVIEW_CACHE_SECONDS = 3600  # a safety net: the key changes with everything the preview depends on


@dataclass(frozen=True)
class ComparedLine:
    kind: str
    key: str  # the SKU code or the discount code ("" for the minimum)
    description: str
    billed: Decimal
    scheduled: Decimal

    @property
    def difference(self) -> Decimal:
        return self.scheduled - self.billed


@dataclass(frozen=True)
class NextChange:
    """The scheduled version and, when the tenant has a closed period, the comparison (`blocked` says why
    it could not be priced, "" when it was)."""

    effective_from: datetime
    profile_name: str
    version_number: int
    invoice_id: int | None = None
    invoice_number: str | None = None
    period_key: str = ""
    period_first_day: date | None = None
    period_last_day: date | None = None
    currency: str = ""
    billed_total: Decimal = ZERO
    scheduled_total: Decimal = ZERO
    lines: tuple[ComparedLine, ...] = ()
    blocked: str = ""

    @property
    def difference(self) -> Decimal:
        return self.scheduled_total - self.billed_total


def scheduled_version(
    *, tenant: Tenant, now: datetime, assignments: list[ProfileAssignment], cache: CloseCache
) -> tuple[datetime, ProfileVersion] | None:
    """The first instant after `now` at which another approved version comes into force for the tenant
    (a new version of its profile, or another profile's through a future assignment), and that version."""
    current = version_at(assignments, now, cache)
    profiles = {a.profile_id for a in assignments if a.effective_to is None or a.effective_to > now}
    instants = {a.effective_from for a in assignments if a.effective_from > now}
    instants |= set(
        ProfileVersion.objects.filter(
            profile_id__in=profiles, status__in=ProfileVersion.IN_FORCE_STATUSES, effective_from__gt=now
        ).values_list("effective_from", flat=True)
    )
    for at in sorted(instants):
        version = version_at(assignments, at, cache)
        if version is not None and (current is None or version.pk != current.pk):
            return at, version
    return None


def _as_one_version(
    usages: list[PeriodUsage], version: ProfileVersion, cache: CloseCache, *, profile_id: int | None = None
) -> list[PeriodUsage]:
    """The period's usage, each SKU's parts (one per version it was rated under) made one, attributed to
    `version`. A unique count across versions keeps its largest part (the values are not kept per
    version here). With `profile_id`, only the parts rated under that profile's versions are made one (in
    the place of the first of them); the others stay as they are."""
    skus = cache.skus_by_id({u.sku_id for u in usages})

    def ours(usage: PeriodUsage) -> bool:
        return profile_id is None or cache.version(usage.profile_version_id).profile_id == profile_id

    by_sku: dict[str, list[PeriodUsage]] = defaultdict(list)
    for usage in usages:
        if ours(usage):
            by_sku[usage.sku_code].append(usage)
    merged = {code: _merged(parts, version, skus) for code, parts in by_sku.items()}
    if profile_id is None:
        return [merged[code] for code in sorted(merged)]
    result: list[PeriodUsage] = []
    for usage in usages:
        if not ours(usage):
            result.append(usage)
        elif usage.sku_code in merged:
            result.append(merged.pop(usage.sku_code))
    return result


def _merged(parts: list[PeriodUsage], version: ProfileVersion, skus: dict[int, Sku]) -> PeriodUsage:
    first = parts[0]
    if len(parts) == 1:  # the common case: one version rated the SKU all period
        return replace(first, profile_version_id=version.pk)
    aggregation = skus[first.sku_id].meter.aggregation if first.sku_id in skus else Meter.Aggregation.SUM
    if aggregation in _FLOWS:
        quantity = sum((p.quantity for p in parts), ZERO)
    elif aggregation == Meter.Aggregation.LATEST:
        quantity = max(parts, key=lambda p: p.last_event_at).quantity
    else:
        quantity = max(p.quantity for p in parts)
    events = [q for p in parts for q in (p.event_quantities or [])]
    return replace(
        first,
        profile_version_id=version.pk,
        quantity=quantity,
        event_count=sum(p.event_count for p in parts),
        first_event_at=min(p.first_event_at for p in parts),
        last_event_at=max(p.last_event_at for p in parts),
        event_quantities=events if any(p.event_quantities is not None for p in parts) else None,
    )


def lines_as_if_in_force(
    *,
    tenant_id: int,
    tz: str,
    period: Period,
    version: ProfileVersion,
    doc: ProfileDocument,
    cache: CloseCache,
    usages: list[PeriodUsage],
) -> tuple[list[LineData], str]:
    """The period's own lines (usage, flat fees, discounts, minimum; before tax) and a blocked reason, as
    if `version` (whose typed document is `doc`) had been in force for the tenant all period: `usages`
    (the period's usage as `period_usage` gives it) is attributed to it (`_as_one_version`). The portal's
    "what changes next" (a scheduled version may be another profile's: it replaces the tenant's whole
    period); `version` may be unsaved. `cache` is told that the tenant holds only that version (in
    memory): use a cache of its own for such runs, never the one of a close."""
    shadow = copy.copy(version)
    shadow.effective_from = period.start
    cache.assignments[tenant_id] = [
        ProfileAssignment(tenant_id=tenant_id, profile_id=version.profile_id, effective_from=period.start)
    ]
    cache.profile_versions[version.profile_id] = [shadow]
    cache.versions[version.pk] = shadow
    scope = PeriodScope(tenant_id=tenant_id, tz=tz, period=period, version=shadow, doc=doc, cache=cache)
    return period_lines(scope, _as_one_version(usages, shadow, cache))


def lines_with_versions_replaced(
    *,
    tenant_id: int,
    tz: str,
    period: Period,
    version: ProfileVersion,
    doc: ProfileDocument,
    cache: CloseCache,
    usages: list[PeriodUsage],
) -> tuple[list[LineData], str]:
    """The period's own lines (before tax) and a blocked reason, had `version` (its typed document `doc`;
    it may be unsaved) replaced every version of its profile: the tenant's assignments stay as they were
    (`cache` holds them: a flat fee is prorated over the days the tenant was on the profile, days on
    another profile keep that profile's versions), and the usage rated under the profile's versions is
    attributed to `version`. The backtest's road (billing.close.backtest); `cache` is told that the
    profile has only that version: use a cache of its own, never the one of a close."""
    shadow = copy.copy(version)
    shadow.effective_from = _EPOCH
    cache.profile_versions[version.profile_id] = [shadow]
    cache.versions[version.pk] = shadow
    merged = _as_one_version(usages, shadow, cache, profile_id=version.profile_id)
    scope = PeriodScope(tenant_id=tenant_id, tz=tz, period=period, version=shadow, doc=doc, cache=cache)
    return period_lines(scope, merged)


def _key(kind: str, sku_code: str, discount_code: str) -> tuple[str, str]:
    return kind, discount_code if kind == InvoiceLine.Kind.DISCOUNT else sku_code


def _scheduled(
    *, tenant: Tenant, now: datetime
) -> tuple[NextChange, ProfileVersion, Invoice | None, CloseCache] | None:
    """The cheap part: the scheduled version (None when none is) and the tenant's last closed invoice."""
    cache = CloseCache()
    assignments = tenant_assignments([tenant.pk])[tenant.pk]
    found = scheduled_version(tenant=tenant, now=now, assignments=assignments, cache=cache)
    if found is None:
        return None
    at, version = found
    profile = BillingProfile.objects.get(pk=version.profile_id)
    change = NextChange(effective_from=at, profile_name=profile.name, version_number=version.number)
    invoice = (
        Invoice.objects.filter(tenant=tenant, status__in=_CLOSED).order_by("-period_start", "-id").first()
    )
    return change, version, invoice, cache


def next_change_preview(*, tenant: Tenant, now: datetime) -> NextChange | None:
    """The next scheduled version for the tenant and the last closed period priced under it; None when no
    version is scheduled."""
    found = _scheduled(tenant=tenant, now=now)
    if found is None:
        return None
    change, version, invoice, cache = found
    if invoice is None:
        return change
    return _priced(change, tenant=tenant, version=version, invoice=invoice, cache=cache)


def next_change_preview_cached(*, tenant: Tenant, now: datetime) -> NextChange | None:
    """`next_change_preview`, the priced comparison kept in the cache (Redis in production) under a key
    made of what it depends on: the tenant, its last closed invoice, the scheduled version and when it
    comes into force, and the closed period's aggregates (their count and latest `updated_at`: late
    usage rated into the period moves them). Those are read with one indexed query (the aggregates'
    (tenant, hour) index over the period) besides the few of finding the version; the entry expires
    after PREVIEW_CACHE_SECONDS as a safety net. When the cache is down it is computed (fail open)."""
    found = _scheduled(tenant=tenant, now=now)
    if found is None:
        return None
    change, version, invoice, cache = found
    if invoice is None:
        return change
    usage = UsageAggregate.objects.filter(
        tenant_id=tenant.pk, hour__gte=invoice.period_start, hour__lt=invoice.period_end
    ).aggregate(rows=Count("id"), updated=Max("updated_at"))
    updated = usage["updated"].isoformat() if usage["updated"] is not None else "-"
    key = (
        f"billing:next-change:v1:{tenant.pk}:{invoice.pk}:{version.pk}:{change.effective_from.isoformat()}"
        f":{usage['rows']}:{updated}"
    )
    cached = redis_breaker.fail_open(lambda: django_cache.get(key), default=None, what="next change preview")
    if isinstance(cached, NextChange):
        # The profile's name is read fresh (a rename is not part of the key).
        return replace(cached, profile_name=change.profile_name)
    priced = _priced(change, tenant=tenant, version=version, invoice=invoice, cache=cache)
    redis_breaker.fail_open(
        lambda: django_cache.set(key, priced, timeout=PREVIEW_CACHE_SECONDS),
        default=None,
        what="next change preview",
    )
    return priced


def _priced(
    change: NextChange, *, tenant: Tenant, version: ProfileVersion, invoice: Invoice, cache: CloseCache
) -> NextChange:
    """The expensive part: the invoice's period re-priced under `version`, compared with what it billed."""
    billed_lines = [line for line in invoice.lines.all() if line.kind != InvoiceLine.Kind.CORRECTION]
    change = replace(
        change,
        invoice_id=invoice.pk,
        invoice_number=invoice.number,
        period_key=invoice.period_key,
        period_first_day=invoice.period_first_day,
        period_last_day=invoice.period_last_day,
        currency=invoice.currency,
        billed_total=sum((line.amount for line in billed_lines), ZERO),
    )
    try:
        doc = document_of(version)
    except DocumentError as err:
        return replace(change, blocked=f"the scheduled price list does not validate: {err}")
    if doc.currency != invoice.currency:
        return replace(
            change,
            blocked=f"the scheduled price list is in {doc.currency}, the invoice in {invoice.currency}",
        )
    period = Period(key=invoice.period_key, start=invoice.period_start, end=invoice.period_end)
    lines, reason = lines_as_if_in_force(
        tenant_id=tenant.pk,
        tz=tenant.timezone,
        period=period,
        version=version,
        doc=doc,
        cache=cache,
        usages=cache.period_usage(tenant_id=tenant.pk, start=period.start, end=period.end),
    )
    if reason:
        return replace(change, blocked=reason)
    billed: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    scheduled: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    names: dict[tuple[str, str], str] = {}
    for line in billed_lines:
        key = _key(line.kind, line.sku_code, line.discount_code)
        billed[key] += line.amount
        names.setdefault(key, line.description)
    for data in lines:
        key = _key(data.kind, data.sku_code, data.discount_code)
        scheduled[key] += data.amount
        names[key] = data.description
    order = list(dict.fromkeys([*billed, *scheduled]))
    compared = tuple(
        ComparedLine(kind=k[0], key=k[1], description=names[k], billed=billed[k], scheduled=scheduled[k])
        for k in order
    )
    return replace(change, scheduled_total=sum((data.amount for data in lines), ZERO), lines=compared)
