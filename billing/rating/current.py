"""Read: a tenant's current (open) billing period as the portal's usage page shows it: per SKU the usage
so far and the running estimate (`TenantUsageEstimate`, kept by rating after each batch; unrounded, before
discounts, commitments, tax and credits), and when the estimate was last updated."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from billing.rating.estimates import tenant_period_at
from billing.rating.models import TenantUsageEstimate
from billing.rating.selectors import estimates_for_period
from common.periods import Period
from tenants.models import Tenant


@dataclass(frozen=True)
class CurrentUsage:
    period: Period
    first_day: date  # local
    last_day: date  # local
    estimates: list[TenantUsageEstimate]  # by SKU code, with their SKUs
    currency: str
    total: Decimal  # sum of the estimates (unrounded)
    updated_at: datetime | None  # the latest estimate row's update, None without usage


def current_usage(*, tenant: Tenant, now: datetime) -> CurrentUsage:
    """The tenant's period holding `now` (its time zone, its billing cycle) and its running estimate."""
    period = tenant_period_at(tenant=tenant, at=now)
    zone = ZoneInfo(tenant.timezone)
    rows = estimates_for_period(tenant_id=tenant.pk, period_key=period.key)
    currency = rows[0].currency if rows else tenant.currency
    return CurrentUsage(
        period=period,
        first_day=period.start.astimezone(zone).date(),
        last_day=(period.end - timedelta(microseconds=1)).astimezone(zone).date(),
        estimates=rows,
        currency=currency,
        total=sum((r.amount for r in rows if r.currency == currency), Decimal(0)),
        updated_at=max((r.updated_at for r in rows), default=None),
    )
