"""Closed periods re-priced under another price-list version, for the backtest of a draft
(billing.governance.backtest): every tenant's last N closed periods of a profile, each priced with the
close's own road with the version in place of every version of the profile
(`preview.lines_with_versions_replaced` -> `lines.period_lines`: usage, flat fees prorated over the days
the tenant was on the profile, discounts, minimum; before tax), next to what its invoice billed for the
period itself (its lines but corrections of earlier periods, before tax). Set-based: a handful of
queries per distinct period range, none per tenant (but where the draft needs what the aggregates cannot
give: a discount window that cuts the period, a meter counting distinct values or taking the latest
value). A large run may be shared among forked processes, each pricing its share of the tenants
(`workers`). Pure read: nothing is written."""

from __future__ import annotations

import multiprocessing as mp
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import connection, connections
from django.db.models import F, Max, Sum, Window
from django.db.models.functions import RowNumber

from billing.close.cache import CloseCache
from billing.close.preview import lines_with_versions_replaced
from billing.pricing import PercentagePrice, ProfileDocument
from billing.profiles.models import ProfileVersion
from billing.rating.models import UsageAggregate
from billing.rating.selectors import PeriodUsage, period_usage_rows_many
from billing.usage.models import UsageEvent
from common.money import quantize_money
from common.periods import Period
from ledger.models import Invoice, InvoiceLine
from tenants.models import Tenant

ZERO = Decimal(0)
CLOSED = (Invoice.Status.FINALIZED, Invoice.Status.PAID)
# From this many periods on, `workers` > 1 forks: below, starting processes costs more than it saves.
PARALLEL_FROM = 2000


@dataclass(frozen=True)
class RepricedPeriod:
    """One tenant's closed period: what its invoice billed for it and what the version would have."""

    tenant_id: int
    tenant_slug: str
    period_key: str
    period_start: datetime
    invoice_number: str
    currency: str
    old_total: Decimal  # the invoice's own lines (corrections of earlier periods left out), before tax
    new_total: Decimal | None  # None when the period cannot be priced under the version (`blocked`)
    blocked: str = ""
    # Usage of the period was rated after the invoice was finalized (a correction bills it later): the
    # new total prices it, the old one does not.
    late_usage: bool = False


def closed_invoices(*, profile_id: int, periods: int, now: datetime) -> list[dict[str, Any]]:
    """Per tenant, its last `periods` closed invoices (finalized or paid, period ended by `now`) whose
    period a version of the profile governed, with one query."""
    versions = ProfileVersion.objects.filter(profile_id=profile_id).values("pk")
    ranked = (
        Invoice.objects.filter(profile_version_id__in=versions, status__in=CLOSED, period_end__lte=now)
        .annotate(
            rank=Window(RowNumber(), partition_by=[F("tenant_id")], order_by=[F("period_start").desc()])
        )
        .values(
            "pk",
            "tenant_id",
            "number",
            "period_key",
            "period_start",
            "period_end",
            "currency",
            "finalized_at",
            "rank",
        )
    )
    return list(ranked.filter(rank__lte=periods))


def _billed(invoice_ids: list[int]) -> dict[int, Decimal]:
    rows = (
        InvoiceLine.objects.filter(invoice_id__in=invoice_ids)
        .exclude(kind=InvoiceLine.Kind.CORRECTION)
        .values("invoice_id")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    return {row["invoice_id"]: row["total"] for row in rows}


def _last_rated(tenant_ids: list[int], start: datetime, end: datetime) -> dict[int, datetime]:
    rows = (
        UsageAggregate.objects.filter(tenant_id__in=tenant_ids, hour__gte=start, hour__lt=end)
        .values("tenant_id")
        .annotate(last=Max("updated_at"))
        .order_by()
    )
    return {row["tenant_id"]: row["last"] for row in rows}


def _event_quantities(
    tenant_ids: list[int], sku_ids: set[int], start: datetime, end: datetime
) -> dict[tuple[int, int], list[Decimal]]:
    """Accepted events' quantities in time order per (tenant, SKU): what a per-event price of the
    version needs when the usage was rated under a version that priced it otherwise."""
    result: dict[tuple[int, int], list[Decimal]] = defaultdict(list)
    rows = (
        UsageEvent.objects.filter(
            tenant_id__in=tenant_ids,
            sku_id__in=sku_ids,
            timestamp__gte=start,
            timestamp__lt=end,
            status=UsageEvent.Status.ACCEPTED,
        )
        .order_by("tenant_id", "sku_id", "timestamp", "id")
        .values_list("tenant_id", "sku_id", "quantity")
    )
    for tenant_id, sku_id, quantity in rows:
        result[(tenant_id, sku_id)].append(quantity)
    return result


def _with_events(
    usages: list[PeriodUsage],
    per_event: set[str],
    events: dict[tuple[int, int], list[Decimal]],
    tenant_id: int,
) -> list[PeriodUsage]:
    """The SKUs the version prices per event get all their events on their first part (the parts are
    made one, events concatenated, by `lines_as_if_in_force`)."""
    seen: set[str] = set()
    result: list[PeriodUsage] = []
    for usage in usages:
        if usage.sku_code not in per_event:
            result.append(usage)
            continue
        first = usage.sku_code not in seen
        seen.add(usage.sku_code)
        quantities = events.get((tenant_id, usage.sku_id), []) if first else []
        result.append(replace(usage, event_quantities=quantities))
    return result


def closed_periods_repriced(
    *, version: ProfileVersion, doc: ProfileDocument, periods: int, now: datetime, workers: int = 1
) -> list[RepricedPeriod]:
    """Every tenant's last `periods` closed periods of the version's profile, re-priced as if `version`
    (`doc` its typed body; it may be an unsaved draft) had replaced the profile's versions (see the module
    docstring), ordered by tenant slug then period. With `workers` > 1 and at least PARALLEL_FROM periods,
    the tenants are shared among that many forked processes (`_fan_out`)."""
    invoices = closed_invoices(profile_id=version.profile_id, periods=periods, now=now)
    if not invoices:
        return []
    if workers > 1 and len(invoices) >= PARALLEL_FROM and _can_fork():
        result = _fan_out(version, doc, invoices, workers)
    else:
        result = _repriced(version, doc, invoices)
    result.sort(key=lambda r: (r.tenant_slug, r.period_start))
    return result


def _can_fork() -> bool:
    """Forking is safe here: no open transaction (its connection is closed before the fork), not a
    daemonic process (a Celery pool child may not have children), and the platform forks."""
    return (
        not connection.in_atomic_block
        and not mp.current_process().daemon
        and "fork" in mp.get_all_start_methods()
    )


def _fan_out(
    version: ProfileVersion, doc: ProfileDocument, invoices: list[dict[str, Any]], workers: int
) -> list[RepricedPeriod]:
    """`_repriced` in `workers` forked processes, each its share of the tenants (the same computation:
    every tenant's periods are priced alone). The connections are closed first: each process opens its
    own, and this one reopens on its next query."""
    shares: list[list[dict[str, Any]]] = [[] for _ in range(workers)]
    for row in invoices:
        shares[row["tenant_id"] % workers].append(row)
    connections.close_all()
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("fork")) as pool:
        parts = list(pool.map(_repriced_in_child, [(version, doc, share) for share in shares if share]))
    return [item for part in parts for item in part]


def _repriced_in_child(
    args: tuple[ProfileVersion, ProfileDocument, list[dict[str, Any]]],
) -> list[RepricedPeriod]:
    try:
        return _repriced(*args)
    finally:
        connections.close_all()


def _repriced(
    version: ProfileVersion, doc: ProfileDocument, invoices: list[dict[str, Any]]
) -> list[RepricedPeriod]:
    """The invoices' periods re-priced (see `closed_periods_repriced`), in no particular order."""
    billed = _billed([row["pk"] for row in invoices])
    tenant_ids = sorted({row["tenant_id"] for row in invoices})
    tenants = {t.pk: t for t in Tenant.objects.filter(pk__in=tenant_ids).only("pk", "slug", "timezone")}
    cache = CloseCache()  # its own: `lines_with_versions_replaced` tells it the profile has only `version`
    cache.preload_assignments(tenant_ids)  # the tenants' real assignments (proration by days)
    per_event = {code for code, entry in doc.prices.items() if isinstance(entry, PercentagePrice)}
    by_range: dict[tuple[datetime, datetime], list[dict[str, Any]]] = defaultdict(list)
    for row in invoices:
        by_range[(row["period_start"], row["period_end"])].append(row)
    result: list[RepricedPeriod] = []
    for (start, end), rows in sorted(by_range.items()):
        ids = [row["tenant_id"] for row in rows]
        usage_rows = period_usage_rows_many(tenant_ids=ids, start=start, end=end)
        last_rated = _last_rated(ids, start, end)
        events: dict[tuple[int, int], list[Decimal]] = {}
        if per_event:
            sku_ids = {s.pk for s in cache.sku_map(per_event).values()}
            events = _event_quantities(ids, sku_ids, start, end)
        for row in rows:
            tenant = tenants[row["tenant_id"]]
            rated = last_rated.get(tenant.pk)
            item = RepricedPeriod(
                tenant_id=tenant.pk,
                tenant_slug=tenant.slug,
                period_key=row["period_key"],
                period_start=start,
                invoice_number=row["number"] or "",
                currency=row["currency"],
                old_total=quantize_money(billed.get(row["pk"], ZERO), row["currency"]),
                new_total=None,
                late_usage=bool(rated and row["finalized_at"] and rated > row["finalized_at"]),
            )
            if doc.currency != row["currency"]:
                result.append(
                    replace(
                        item, blocked=f"the version is in {doc.currency}, the invoice in {row['currency']}"
                    )
                )
                continue
            usages = cache.usage_of_rows(
                usage_rows.get(tenant.pk, []), tenant_id=tenant.pk, start=start, end=end
            )
            if per_event:
                usages = _with_events(usages, per_event, events, tenant.pk)
            lines, reason = lines_with_versions_replaced(
                tenant_id=tenant.pk,
                tz=tenant.timezone,
                period=Period(key=row["period_key"], start=start, end=end),
                version=version,
                doc=doc,
                cache=cache,
                usages=usages,
            )
            if reason:
                result.append(replace(item, blocked=reason))
            else:
                new_total = quantize_money(sum((line.amount for line in lines), ZERO), doc.currency)
                result.append(replace(item, new_total=new_total))
    return result
