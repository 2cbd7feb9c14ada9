"""The usage summary a tenant reads (`GET /api/v1/usage/summary`): per SKU the quantity, event count and
estimated cost of one period, from the stored running estimate when there is one, else priced from the
aggregates on the spot."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from billing.rating.estimates import estimate_compute, tenant_period_at
from billing.rating.selectors import estimates_for_period
from common.errors import ValidationFailed
from common.periods import period_by_key
from tenants.models import Tenant


@dataclass(frozen=True, slots=True)
class SummaryLine:
    sku_code: str
    quantity: Decimal
    event_count: int
    amount: Decimal


@dataclass(frozen=True, slots=True)
class UsageSummary:
    tenant_slug: str
    period_key: str
    start: datetime
    end: datetime
    currency: str
    lines: list[SummaryLine]
    source: str  # running_estimate | aggregates

    @property
    def estimated_total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal(0))


def usage_summary(*, tenant: Tenant, period_key: str | None, now: datetime) -> UsageSummary:
    """The tenant's summary of `period_key` (default: the period open at `now`)."""
    current = tenant_period_at(tenant=tenant, at=now)
    period = current
    if period_key and period_key != current.key:
        cycle = "quarterly" if "Q" in period_key else ("monthly" if "-" in period_key else "yearly")
        try:
            period = period_by_key(period_key, tz=tenant.timezone, cycle=cycle)
        except ValueError as err:
            raise ValidationFailed(str(err)) from err
    stored = estimates_for_period(tenant_id=tenant.pk, period_key=period.key)
    if stored:
        lines = [SummaryLine(e.sku.code, e.quantity, e.event_count, e.amount) for e in stored]
        currency, source = stored[0].currency, "running_estimate"
    else:
        computed = estimate_compute(tenant=tenant, period=period)
        lines = [SummaryLine(c.sku_code, c.quantity, c.event_count, c.amount) for c in computed]
        currency = computed[0].currency if computed else tenant.currency
        source = "aggregates"
    return UsageSummary(tenant.slug, period.key, period.start, period.end, currency, lines, source)
