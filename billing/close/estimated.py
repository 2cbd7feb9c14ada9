"""A tenant's open period priced as if one version had been in force for all of it: the close's own road
(`preview.lines_as_if_in_force`: usage so far, flat fees, discounts, minimum; before tax) over the
period's usage as rated now. What a canary's watch compares (billing.governance.rollout_watch): the same
usage under the canary and under the version it replaces. Pure read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from billing.close.cache import CloseCache, document_of
from billing.close.preview import lines_as_if_in_force
from billing.pricing import DocumentError
from billing.profiles.models import ProfileVersion
from billing.rating.estimates import tenant_period_at
from billing.rating.selectors import period_usage
from common.periods import Period
from tenants.models import Tenant

ZERO = Decimal(0)


@dataclass(frozen=True)
class EstimatedBill:
    currency: str
    total: Decimal | None  # None when the period cannot be priced under the version (`blocked` says why)
    blocked: str = ""


def open_period(*, tenant: Tenant, at: datetime) -> Period:
    """The tenant's billing period holding `at` (its time zone, the cycle of the version in force then)."""
    return tenant_period_at(tenant=tenant, at=at)


def estimated_bill_under(*, tenant: Tenant, version: ProfileVersion, period: Period) -> EstimatedBill:
    """The tenant's bill for `period` so far, as if `version` had been in force all period (before tax)."""
    try:
        doc = document_of(version)
    except DocumentError as err:
        return EstimatedBill(currency="", total=None, blocked=f"v{version.number} does not validate: {err}")
    usages = period_usage(tenant_id=tenant.pk, start=period.start, end=period.end)
    lines, reason = lines_as_if_in_force(
        tenant_id=tenant.pk,
        tz=tenant.timezone,
        period=period,
        version=version,
        doc=doc,
        cache=CloseCache(),  # a cache of its own: lines_as_if_in_force pins the version in it
        usages=usages,
    )
    if reason:
        return EstimatedBill(currency=doc.currency, total=None, blocked=reason)
    return EstimatedBill(currency=doc.currency, total=sum((line.amount for line in lines), ZERO))
