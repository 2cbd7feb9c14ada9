"""Reads of the evaluators and the budgets page: budgets, the current period's running estimates, hourly
rated usage per SKU (from the aggregates), and the breakdown of one anomalous window by project and tag
(from the events of that window only)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import Sum

from billing.monitoring.models import TenantBudget
from billing.rating.models import TenantUsageEstimate, UsageAggregate
from billing.usage.models import UsageEvent
from ledger.models import Alert
from tenants.models import Tenant

# A window's breakdown reads at most this many (tag, value) groups, the largest first.
BREAKDOWN_LIMIT = 200


def budget_get(*, tenant: Tenant) -> TenantBudget | None:
    return TenantBudget.objects.filter(tenant=tenant).first()


def budgets_for(*, tenant_ids: list[int]) -> dict[int, TenantBudget]:
    return {b.tenant_id: b for b in TenantBudget.objects.filter(tenant_id__in=tenant_ids)}


def estimates_current(*, tenant_ids: list[int], now: datetime) -> dict[int, list[TenantUsageEstimate]]:
    """Per tenant, its running estimate rows of the period holding `now` (with their SKU and meter)."""
    rows = (
        TenantUsageEstimate.objects.filter(
            tenant_id__in=tenant_ids, period_start__lte=now, period_end__gt=now
        )
        .select_related("sku__meter")
        .order_by("tenant_id", "sku__code")
    )
    found: dict[int, list[TenantUsageEstimate]] = defaultdict(list)
    for row in rows:
        found[row.tenant_id].append(row)
    return found


def tenants_with_recent_estimates(*, since: datetime) -> set[int]:
    """Tenants whose running estimate rating refreshed since `since` (they received rated usage)."""
    return set(
        TenantUsageEstimate.objects.filter(updated_at__gte=since)
        .values_list("tenant_id", flat=True)
        .distinct()
    )


def tenants_with_open_alerts(*, kinds: list[str]) -> set[int]:
    """Tenants with an open alert of these kinds: evaluated again, so that they can resolve."""
    return set(
        Alert.objects.filter(kind__in=kinds, tenant__isnull=False)
        .exclude(state=Alert.State.RESOLVED)
        .values_list("tenant_id", flat=True)
        .distinct()
    )


def hourly_usage(
    *, tenant_ids: list[int], start: datetime, end: datetime
) -> dict[int, dict[int, dict[datetime, Decimal]]]:
    """Per tenant and SKU id, the rated quantity of each UTC hour in [start, end) that has usage (all profile
    versions added up): one range read on the aggregates' (tenant, hour) index for all the tenants. Hours
    travel as whole hours since `start` (start must be a whole UTC hour): the same datetimes, built once."""
    sql = f"""
        SELECT tenant_id, sku_id, (extract(epoch FROM hour - %s) / 3600)::int, SUM(quantity)
        FROM {UsageAggregate._meta.db_table}
        WHERE tenant_id = ANY(%s) AND hour >= %s AND hour < %s
        GROUP BY tenant_id, sku_id, hour
    """  # noqa: S608 -- the table name is the model's; every value is a parameter
    with connection.cursor() as cursor:
        cursor.execute(sql, [start, list(tenant_ids), start, end])
        rows = cursor.fetchall()
    hours = [start + timedelta(hours=i) for i in range(int((end - start) / timedelta(hours=1)) + 1)]
    series: dict[int, dict[int, dict[datetime, Decimal]]] = defaultdict(lambda: defaultdict(dict))
    for tenant_id, sku_id, offset, quantity in rows:
        series[tenant_id][sku_id][hours[offset]] = quantity
    return series


def first_usage_hours(*, pairs: list[tuple[int, int]]) -> dict[tuple[int, int], datetime]:
    """Per (tenant id, SKU id), the first hour the tenant has rated usage of it (the start of its history):
    the first entry of the aggregates' (tenant, sku, hour) key for each pair."""
    if not pairs:
        return {}
    table = UsageAggregate._meta.db_table
    sql = f"""
        SELECT p.tenant_id, p.sku_id,
               (SELECT min(a.hour) FROM {table} a WHERE a.tenant_id = p.tenant_id AND a.sku_id = p.sku_id)
        FROM unnest(%s::bigint[], %s::bigint[]) AS p(tenant_id, sku_id)
    """  # noqa: S608 -- the table name is the model's; every value is a parameter
    with connection.cursor() as cursor:
        cursor.execute(sql, [[t for t, _s in pairs], [s for _t, s in pairs]])
        rows = cursor.fetchall()
    return {(tenant_id, sku_id): first for tenant_id, sku_id, first in rows if first is not None}


def window_by_project(*, tenant_id: int, sku_id: int, start: datetime, end: datetime) -> dict[str, Decimal]:
    """The window's accepted quantity per project code ("" = no project)."""
    rows = (
        UsageEvent.objects.filter(
            tenant_id=tenant_id,
            sku_id=sku_id,
            timestamp__gte=start,
            timestamp__lt=end,
            status=UsageEvent.Status.ACCEPTED,
        )
        .values("project_code")
        .annotate(quantity=Sum("quantity"))
        .order_by("-quantity")
        .values_list("project_code", "quantity")[:BREAKDOWN_LIMIT]
    )
    return dict(rows)


def window_by_tag(
    *, tenant_id: int, sku_id: int, start: datetime, end: datetime
) -> dict[str, dict[str, Decimal]]:
    """The window's accepted quantity per tag key and value (the largest BREAKDOWN_LIMIT groups). Reads the
    window's events through the (tenant, sku, timestamp) index."""
    sql = f"""
        SELECT t.key, t.value, SUM(e.quantity)
        FROM {UsageEvent._meta.db_table} e CROSS JOIN LATERAL jsonb_each_text(e.tags) AS t(key, value)
        WHERE e.tenant_id = %s AND e.sku_id = %s AND e.timestamp >= %s AND e.timestamp < %s
          AND e.status = %s
        GROUP BY t.key, t.value
        ORDER BY 3 DESC, 1, 2
        LIMIT %s
    """  # noqa: S608 -- the table name is the model's; every value is a parameter
    with connection.cursor() as cursor:
        cursor.execute(sql, [tenant_id, sku_id, start, end, UsageEvent.Status.ACCEPTED, BREAKDOWN_LIMIT])
        rows = cursor.fetchall()
    found: dict[str, dict[str, Decimal]] = defaultdict(dict)
    for key, value, quantity in rows:
        found[str(key)][str(value)] = Decimal(quantity)
    return found
