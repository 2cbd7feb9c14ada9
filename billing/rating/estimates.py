"""Running cost estimates: each tenant's open period priced from its current aggregates, per SKU.

The estimate applies period-level pricing exactly as the period close will (tiers over the whole period;
when the profile version changes mid-period each version prices its own usage, with the usage before it
carried into the tiers), but it is unrounded and before discounts, commitments, tax and credits: it tells
a customer what its usage costs so far, not what the invoice will say."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import DatabaseError, transaction
from django.utils import timezone

from billing.catalog.models import Meter, Sku
from billing.pricing import PricingError, Segment, parse_price, price_segments
from billing.profiles.models import ProfileVersion
from billing.profiles.selectors import VersionTimeline
from billing.rating.models import TenantUsageEstimate
from billing.rating.selectors import PeriodUsage, period_usage
from common import metrics
from common.periods import Period, period_containing
from tenants.models import Tenant

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EstimateLine:
    sku_id: int
    sku_code: str
    quantity: Decimal
    event_count: int
    amount: Decimal
    currency: str


def tenant_period_at(*, tenant: Tenant, at: datetime, timeline: VersionTimeline | None = None) -> Period:
    """The tenant's billing period holding `at`: its time zone, the billing cycle of the profile version in
    force then (monthly when it has none)."""
    timeline = timeline or VersionTimeline([tenant.pk])
    version = timeline.version_at(tenant.pk, at)
    cycle = str(version.body.get("billing_cycle", "monthly")) if version is not None else "monthly"
    return period_containing(at, tz=tenant.timezone, cycle=cycle)


def _price_entry(version: ProfileVersion, sku_code: str) -> dict[str, Any] | None:
    for entry in version.body.get("prices", []):
        if entry.get("sku") == sku_code:
            return {k: v for k, v in entry.items() if k != "sku"}
    return None


def _combined_quantity(aggregation: str, parts: list[PeriodUsage]) -> Decimal:
    if aggregation == Meter.Aggregation.MAX:
        return max(p.quantity for p in parts)
    if aggregation == Meter.Aggregation.LATEST:
        return max(parts, key=lambda p: p.last_event_at).quantity
    return sum((p.quantity for p in parts), Decimal(0))


def estimate_compute(*, tenant: Tenant, period: Period) -> list[EstimateLine]:
    """Price the tenant's aggregates of `period`, one line per SKU. Reads aggregates only (and, for
    per-event prices, the rated events' quantities that the pricing model needs)."""
    usages = period_usage(tenant_id=tenant.pk, start=period.start, end=period.end)
    if not usages:
        return []
    versions = {v.pk: v for v in ProfileVersion.objects.filter(pk__in={u.profile_version_id for u in usages})}
    skus = {s.pk: s for s in Sku.objects.select_related("meter").filter(pk__in={u.sku_id for u in usages})}
    by_sku: dict[int, list[PeriodUsage]] = defaultdict(list)
    for usage in usages:  # already ordered by SKU code, then the version's effective_from
        by_sku[usage.sku_id].append(usage)
    lines: list[EstimateLine] = []
    for sku_id, parts in by_sku.items():
        sku = skus[sku_id]
        currency = ""
        segments: list[Segment] = []
        for part in parts:
            version = versions[part.profile_version_id]
            currency = str(version.body.get("currency", tenant.currency))
            entry = _price_entry(version, sku.code)
            if entry is None:
                continue
            try:
                segments.append(
                    Segment(price=parse_price(entry), quantity=part.quantity, events=part.event_quantities)
                )
            except PricingError as err:  # a validated document never gets here; say so loudly
                logger.error("estimate of %s/%s not priced: %s", tenant.slug, sku.code, err)
        try:
            amount = sum((r.amount for r in price_segments(segments)), Decimal(0))
        except PricingError as err:
            logger.error("estimate of %s/%s not priced: %s", tenant.slug, sku.code, err)
            amount = Decimal(0)
        lines.append(
            EstimateLine(
                sku_id=sku.pk,
                sku_code=sku.code,
                quantity=_combined_quantity(sku.meter.aggregation, parts),
                event_count=sum(p.event_count for p in parts),
                amount=amount,
                currency=currency or tenant.currency,
            )
        )
    return lines


def usage_estimates_refresh(*, tenant_ids: set[int], now: datetime | None = None) -> list[int]:
    """Recompute and store the open-period estimates of the given tenants (called inside the rating
    transaction, so an estimate never runs ahead of or behind the aggregates it came from). Each tenant's
    refresh runs in a savepoint of its own: one tenant whose estimate cannot be computed or stored (an
    amount past its column, a price the engine refuses) keeps its last estimate, is logged and counted,
    and never aborts the rating of the others. Returns the ids of the tenants that failed."""
    now = now or timezone.now()
    tenants = list(Tenant.objects.filter(pk__in=tenant_ids).order_by("pk"))
    timeline = VersionTimeline(tenant_ids)
    failed: list[int] = []
    for tenant in tenants:
        try:
            with transaction.atomic():
                _estimate_store(tenant=tenant, now=now, timeline=timeline)
        except (DatabaseError, ArithmeticError, PricingError, ValueError) as err:
            failed.append(tenant.pk)
            metrics.RATING_FAILURES.labels(stage="estimate").inc()
            logger.error("running estimate of tenant %s not refreshed: %s", tenant.slug, err)
    return failed


def _estimate_store(*, tenant: Tenant, now: datetime, timeline: VersionTimeline) -> None:
    period = tenant_period_at(tenant=tenant, at=now, timeline=timeline)
    lines = estimate_compute(tenant=tenant, period=period)
    for line in lines:
        TenantUsageEstimate.objects.update_or_create(
            tenant=tenant,
            period_key=period.key,
            sku_id=line.sku_id,
            defaults={
                "period_start": period.start,
                "period_end": period.end,
                "quantity": line.quantity,
                "event_count": line.event_count,
                "amount": line.amount,
                "currency": line.currency,
                "updated_at": now,
            },
        )
    TenantUsageEstimate.objects.filter(tenant=tenant, period_key=period.key).exclude(
        sku_id__in=[line.sku_id for line in lines]
    ).delete()
