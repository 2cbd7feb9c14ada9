"""The usage history's parts per closed billing period, kept in the cache (Redis in production).

A period whose invoice is finalized (or paid) no longer changes, except when late usage is rated into it:
rating flags such events `late` and adds them to the period's aggregates in the same transaction. A closed
period's part is therefore keyed by the tenant, the period, the display currency, the time zone, and the
count and highest id of the period's late events (read through the partial index `usage_event_late`, one
query for every period of the range). A period not closed yet (the open one) is keyed by what its
aggregates hold: their count, their events (`sum(event_count)`, which every rated event raises) and their
latest `updated_at` (one indexed query over that period's aggregates), so it is computed again as soon as
rating adds usage to it, and once per change, not per request. When the cache is down every part is
computed (fail open); entries expire after HISTORY_CACHE_SECONDS as a safety net."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from django.core.cache import cache as django_cache
from django.db import connection

from billing.rating.models import UsageAggregate
from billing.usage.models import UsageEvent
from common.breaker import redis_breaker
from common.periods import Period
from ledger.models import Invoice
from tenants.models import Tenant

HISTORY_CACHE_SECONDS = 7 * 24 * 3600
_VERSION = "v1"  # bump when the part's shape or the cost rule changes

Part = TypeVar("Part")

_LATE_SQL = """
SELECT width_bucket("timestamp", %(bounds)s::timestamptz[]) AS bucket, count(*), max(id)
FROM {events}
WHERE tenant_id = %(tenant)s AND late AND status = 'accepted'
  AND "timestamp" >= %(start)s AND "timestamp" < %(end)s
GROUP BY 1
"""


_OPEN_SQL = """
SELECT width_bucket(hour, %(bounds)s::timestamptz[]) AS bucket, count(*), sum(event_count), max(updated_at)
FROM {aggregates}
WHERE tenant_id = %(tenant)s AND hour >= %(start)s AND hour < %(end)s
GROUP BY 1
"""


def _prefix(tenant: Tenant, currency: str, period: Period) -> str:
    return (
        f"billing:history:{_VERSION}:{tenant.pk}:{tenant.timezone}:{currency}:"
        f"{period.start.isoformat()}:{period.end.isoformat()}"
    )


def open_period_keys(
    *, tenant: Tenant, periods: Sequence[Period], currency: str, closed: set[int]
) -> dict[int, str]:
    """The cache key of each period of `periods` not in `closed` (by index), from its aggregates."""
    wanted = [i for i in range(len(periods)) if i not in closed]
    if not wanted:
        return {}
    first = periods[wanted[0]]
    found: dict[int, str] = dict.fromkeys(wanted, "0:0:-")
    with connection.cursor() as cursor:
        cursor.execute(
            _OPEN_SQL.format(aggregates=connection.ops.quote_name(UsageAggregate._meta.db_table)),
            {
                "bounds": [p.start for p in periods] + [periods[-1].end],
                "tenant": tenant.pk,
                "start": first.start,
                "end": periods[-1].end,
            },
        )
        for bucket, rows, events, updated in cursor.fetchall():
            if bucket - 1 in found:
                found[bucket - 1] = f"{rows}:{events}:{updated.isoformat()}"
    return {i: f"{_prefix(tenant, currency, periods[i])}:open:{found[i]}" for i in wanted}


def closed_period_keys(*, tenant: Tenant, periods: Sequence[Period], currency: str) -> dict[int, str]:
    """The cache key of each closed period of `periods`, by its index (periods not closed have none)."""
    if not periods:
        return {}
    closed = set(
        Invoice.objects.filter(
            tenant=tenant,
            status__in=[Invoice.Status.FINALIZED, Invoice.Status.PAID],
            period_start__in=[p.start for p in periods],
        ).values_list("period_start", "period_end")
    )
    wanted = {i: p for i, p in enumerate(periods) if (p.start, p.end) in closed}
    if not wanted:
        return {}
    late: dict[int, tuple[int, int]] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            _LATE_SQL.format(events=connection.ops.quote_name(UsageEvent._meta.db_table)),
            {
                "bounds": [p.start for p in periods] + [periods[-1].end],
                "tenant": tenant.pk,
                "start": periods[0].start,
                "end": periods[-1].end,
            },
        )
        for bucket, count, highest in cursor.fetchall():
            late[bucket - 1] = (count, highest)
    return {
        i: f"{_prefix(tenant, currency, p)}:closed:{late.get(i, (0, 0))[0]}:{late.get(i, (0, 0))[1]}"
        for i, p in wanted.items()
    }


def period_keys(*, tenant: Tenant, periods: Sequence[Period], currency: str) -> dict[int, str]:
    """The cache key of every period of `periods` (by index): closed periods by their late events, the
    others by their aggregates (two queries in all). Equal keys mean equal parts."""
    keys = closed_period_keys(tenant=tenant, periods=periods, currency=currency)
    return keys | open_period_keys(tenant=tenant, periods=periods, currency=currency, closed=set(keys))


def period_parts(
    *, keys: dict[int, str], periods: Sequence[Period], compute: Callable[[Period], Part]
) -> list[Part]:
    """`compute(period)` for each period, taken from (and stored in) the cache under `keys` (period_keys)."""
    found: dict[str, Part] = redis_breaker.fail_open(
        lambda: django_cache.get_many(list(keys.values())), default={}, what="history"
    )
    parts: list[Part] = []
    fresh: dict[str, Part] = {}
    for i, period in enumerate(periods):
        key = keys[i]
        if key in found:
            parts.append(found[key])
            continue
        part = compute(period)
        parts.append(part)
        fresh[key] = part
    if fresh:
        redis_breaker.fail_open(
            lambda: django_cache.set_many(fresh, timeout=HISTORY_CACHE_SECONDS), default=None, what="history"
        )
    return parts
