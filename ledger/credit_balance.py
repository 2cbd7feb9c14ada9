"""Read: a tenant's prepaid credit balance, grant by grant, with expiries (the portal's usage page).

A grant's remainder is the one `grant_remainders` computes for the close and the expiry run (amount less
consumptions, plus restorations, less expiries); `used` is what invoices consumed net of restorations
(a voided invoice gives its credit back)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import F, Q

from ledger.models import CreditGrant
from ledger.services.credits import grant_remainders
from tenants.models import Tenant


@dataclass(frozen=True)
class GrantBalance:
    grant_id: int
    reason: str
    currency: str
    amount: Decimal
    used: Decimal
    remaining: Decimal
    granted_at: datetime
    expires_at: datetime | None


@dataclass(frozen=True)
class CreditBalance:
    grants: list[GrantBalance]
    totals: dict[str, Decimal]  # remaining per currency


def tenant_credit_balance(*, tenant: Tenant, now: datetime) -> CreditBalance:
    """The tenant's grants that are granted by `now` and not expired at `now` (open-ended ones included),
    earliest expiry first (the order the close uses them in), with what is used and what is left, and the
    remaining total per currency."""
    grants = list(
        CreditGrant.objects.filter(tenant=tenant, granted_at__lte=now)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .order_by(F("expires_at").asc(nulls_last=True), "-priority", "id")
    )
    if not grants:
        return CreditBalance([], {})
    left = grant_remainders(grants=grants)
    rows: list[GrantBalance] = []
    totals: dict[str, Decimal] = {}
    for grant in grants:
        remaining = left[grant.pk]
        rows.append(
            GrantBalance(
                grant_id=grant.pk,
                reason=grant.reason,
                currency=grant.currency,
                amount=grant.amount,
                used=grant.amount - remaining,
                remaining=remaining,
                granted_at=grant.granted_at,
                expires_at=grant.expires_at,
            )
        )
        totals[grant.currency] = totals.get(grant.currency, Decimal(0)) + remaining
    return CreditBalance(rows, totals)
