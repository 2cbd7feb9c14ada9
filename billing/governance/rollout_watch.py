"""Reads over canary rollouts: who is in a cohort, and how the cohort fares (`rollout_watch`): per cohort
tenant, its estimated bill for the current period under the canary next to under the version the canary
replaces, and the disputes the cohort opened since the canary started; the guardrails' breaches.

The estimated bill is the close's own road for "this period under that version"
(`billing.close.estimated.estimated_bill_under`: usage so far, flat fees, discounts, minimum; before
tax), applied to the same usage twice: once as if the replaced version, once as if the canary had been in force
for the whole period, so the difference is the price change alone, not when it started."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from billing.close.estimated import estimated_bill_under, open_period
from billing.governance.backtest import percent_change
from billing.profiles.models import ProfileAssignment, ProfileVersion
from billing.profiles.rollout_models import Rollout, in_percentage_cohort
from billing.profiles.selectors import replaced_version
from ledger.models import Dispute
from tenants.models import Tenant

ZERO = Decimal(0)


@dataclass(frozen=True)
class CohortTenantWatch:
    tenant: Tenant
    period_key: str
    currency: str
    replaced_total: Decimal | None  # None when the period cannot be priced (`blocked` says why)
    canary_total: Decimal | None
    change_pct: Decimal | None  # None: not priced, or from zero to something (`from_zero`)
    disputes: int
    blocked: str = ""

    @property
    def delta(self) -> Decimal | None:
        if self.replaced_total is None or self.canary_total is None:
            return None
        return self.canary_total - self.replaced_total

    @property
    def from_zero(self) -> bool:
        return self.replaced_total == 0 and self.canary_total is not None and self.canary_total != 0


@dataclass(frozen=True)
class RolloutWatch:
    rollout: Rollout
    version: ProfileVersion
    replaced: ProfileVersion | None
    started: bool  # the canary's version is in force for its cohort
    rows: tuple[CohortTenantWatch, ...]
    disputes: int
    breaches: tuple[str, ...]

    @property
    def largest_change_pct(self) -> Decimal | None:
        changes = [abs(r.change_pct) for r in self.rows if r.change_pct is not None]
        return max(changes) if changes else None


def cohort_tenants(*, rollout: Rollout, at: datetime) -> list[Tenant]:
    """The cohort's tenants: an explicit cohort's list, or the tenants on the version's profile at `at`
    (or at the version's effective_from, if later) whose stable draw falls in the percentage."""
    if rollout.cohort_kind == Rollout.CohortKind.EXPLICIT:
        return list(Tenant.objects.filter(pk__in=rollout.tenants.values("tenant_id")).order_by("slug"))
    version = rollout.version
    when = max(at, version.effective_from)
    on_profile = ProfileAssignment.objects.filter(
        profile_id=version.profile_id, effective_from__lte=when
    ).exclude(effective_to__lte=when)
    assert rollout.percent is not None
    return [
        tenant
        for tenant in Tenant.objects.filter(pk__in=on_profile.values("tenant_id")).order_by("slug")
        if in_percentage_cohort(salt=rollout.salt, tenant_id=tenant.pk, percent=rollout.percent)
    ]


def cohort_tenant_watch(
    *,
    tenant: Tenant,
    version: ProfileVersion,
    replaced: ProfileVersion | None,
    since: datetime,
    now: datetime,
) -> CohortTenantWatch:
    period = open_period(tenant=tenant, at=now)
    disputes = Dispute.objects.filter(tenant=tenant, created_at__gte=since, created_at__lte=now).count()
    canary_bill = estimated_bill_under(tenant=tenant, version=version, period=period)
    canary, currency, blocked = canary_bill.total, canary_bill.currency, canary_bill.blocked
    old: Decimal | None = None
    if replaced is None:
        blocked = blocked or "no version in force before the canary to compare with"
    else:
        old_bill = estimated_bill_under(tenant=tenant, version=replaced, period=period)
        old, blocked = old_bill.total, blocked or old_bill.blocked
        if not blocked and old_bill.currency != currency:
            blocked = f"the canary prices in {currency}, the version it replaces in {old_bill.currency}"
    change = percent_change(old, canary) if old is not None and canary is not None and not blocked else None
    return CohortTenantWatch(
        tenant=tenant,
        period_key=period.key,
        currency=currency,
        replaced_total=old if not blocked else None,
        canary_total=canary if not blocked else None,
        change_pct=change,
        disputes=disputes,
        blocked=blocked,
    )


def guardrail_breaches(
    rollout: Rollout, rows: tuple[CohortTenantWatch, ...], disputes: int
) -> tuple[str, ...]:
    """What the watch breaches, each naming the guardrail and the figure (the halt reason). A cohort
    tenant whose estimate is blocked (the canary cannot price a SKU it uses, or prices in another currency)
    breaches too: usage left unpriced is the riskiest change."""
    limit = rollout.max_bill_change_pct
    found: list[str] = []
    for row in rows:
        if row.blocked:  # usage left unpriced (a SKU the canary does not price, another currency...)
            found.append(
                f"estimated bill of tenant {row.tenant.slug} cannot be compared (period {row.period_key}): "
                f"{row.blocked}"
            )
        elif row.change_pct is not None and abs(row.change_pct) > limit:
            found.append(
                f"estimated bill change {row.change_pct} % for tenant {row.tenant.slug} exceeds the "
                f"{limit} % guardrail ({row.replaced_total} -> {row.canary_total} {row.currency}, "
                f"period {row.period_key})"
            )
        elif row.from_zero:
            found.append(
                f"estimated bill of tenant {row.tenant.slug} goes from 0 to {row.canary_total} {row.currency} "
                f"(period {row.period_key}): beyond any {limit} % guardrail"
            )
    if disputes > rollout.max_disputes:
        found.append(
            f"{disputes} disputes opened by the cohort since the canary started exceed the guardrail of "
            f"{rollout.max_disputes}"
        )
    return tuple(found)


def rollout_watch(*, rollout: Rollout, now: datetime) -> RolloutWatch:
    """The cohort's estimated-bill deltas and disputes, and the guardrails' breaches (module docstring)."""
    version = rollout.version
    replaced = replaced_version(version=version)
    since = version.effective_from
    rows = tuple(
        cohort_tenant_watch(tenant=tenant, version=version, replaced=replaced, since=since, now=now)
        for tenant in cohort_tenants(rollout=rollout, at=now)
    )
    disputes = sum(r.disputes for r in rows)
    return RolloutWatch(
        rollout=rollout,
        version=version,
        replaced=replaced,
        started=version.effective_from <= now,
        rows=rows,
        disputes=disputes,
        breaches=guardrail_breaches(rollout, rows, disputes),
    )


def rollouts_list() -> list[Rollout]:
    return list(
        Rollout.objects.select_related(
            "version", "version__profile", "created_by", "rollback_version"
        ).order_by("-created_at", "-id")
    )
