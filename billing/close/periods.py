"""Which period a close is about, and the profile version that governs it: the period by key (or the last
one ended before `now`) in the tenant's time zone and billing cycle, and the version in force at its end,
whose cycle, grace window, currency, fees, discounts, commitments and tax mode the invoice follows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from billing.close.cache import CloseCache, document_of
from billing.profiles.models import ProfileAssignment, ProfileVersion
from billing.profiles.selectors import assignment_holding
from common.errors import ValidationFailed
from common.periods import Period, period_by_key, period_containing, previous_period
from tenants.models import Tenant

_TICK = timedelta(microseconds=1)


@dataclass(frozen=True)
class CloseResult:
    tenant_slug: str
    period_key: str
    status: str  # finalized | already_closed | draft | blocked | nothing_to_bill | error
    invoice_id: int | None = None
    number: str | None = None
    message: str = ""


def tenant_assignments(tenant_ids: Sequence[int]) -> dict[int, list[ProfileAssignment]]:
    """Each tenant's profile assignments sorted by `effective_from`, with one query."""
    result: dict[int, list[ProfileAssignment]] = {pk: [] for pk in tenant_ids}
    for assignment in ProfileAssignment.objects.filter(tenant_id__in=tenant_ids).order_by(
        "tenant_id", "effective_from"
    ):
        result[assignment.tenant_id].append(assignment)
    return result


def version_at(
    assignments: Sequence[ProfileAssignment], at: datetime, cache: CloseCache
) -> ProfileVersion | None:
    """The version in force at `at` for the tenant holding `assignments` (sorted by effective_from)."""
    held = assignment_holding([a.effective_from for a in assignments], assignments, at)
    return cache.in_force(held.profile_id, at, held.tenant_id) if held is not None else None


def period_for(
    *,
    tenant: Tenant,
    now: datetime,
    period_key: str | None = None,
    cache: CloseCache,
    assignments: Sequence[ProfileAssignment],
) -> tuple[Period, ProfileVersion | None]:
    """The period to close (by key, or the last one that ended before `now`) and the profile version in
    force at its end. The cycle that parses the key is the one of the version in force now."""
    current = version_at(assignments, now, cache)
    cycle = document_of(current).billing_cycle if current else "monthly"
    if period_key:
        try:
            period = period_by_key(period_key, tz=tenant.timezone, cycle=cycle)
        except ValueError as err:
            raise ValidationFailed(str(err)) from err
    else:
        period = previous_period(
            period_containing(now, tz=tenant.timezone, cycle=cycle), tz=tenant.timezone, cycle=cycle
        )
    at_end = period.end - _TICK
    governing = version_at(assignments, at_end, cache) if at_end != now else current
    return period, governing
