"""Prepaid credit expiry ("breakage"): the unused part of every grant whose `expires_at` has passed leaves
the tenant's prepaid liability for breakage revenue (Dr `prepaid:<tenant>`, Cr `revenue:breakage`).

Idempotent: the run writes at most one CreditExpiry per grant (a partial unique index refuses a second),
and a grant is a candidate only while it has none and something is left, so running twice posts nothing
new. A grant used up by its expiry gets no row (nothing to post): the candidate query computes every
remainder in one SQL statement and skips it without a lock or a transaction. Credit restored to a grant
after its expiry is breakage at once (`credits.credits_restore`). Each grant expires in its own transaction
with its row locked; a failure is reported in the result and raised as an Alert, and the others go on."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import DatabaseError, transaction
from django.db.models import DecimalField, Exists, F, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from common.errors import ApplicationError
from common.money import quantize_money
from ledger.models import Alert, CreditConsumption, CreditExpiry, CreditGrant, CreditRestoration
from ledger.models.journal import AMOUNT_DIGITS, AMOUNT_PLACES
from ledger.services.alerts import alert_raise
from ledger.services.credits import credit_breakage_post, grant_remainders

logger = logging.getLogger(__name__)

_AMOUNT: DecimalField[Decimal, Decimal] = DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES)


@dataclass(frozen=True)
class ExpiringGrant:
    grant_id: int
    tenant_id: int
    tenant_slug: str
    currency: str
    amount: Decimal
    expires_at: datetime


@dataclass(frozen=True)
class ExpiryFailure:
    grant_id: int
    tenant_slug: str
    message: str


@dataclass
class ExpiryResult:
    expired: list[ExpiringGrant] = field(default_factory=list)
    failures: list[ExpiryFailure] = field(default_factory=list)

    def totals(self) -> dict[str, Decimal]:
        """Breakage posted per currency."""
        sums: dict[str, Decimal] = defaultdict(Decimal)
        for item in self.expired:
            sums[item.currency] += item.amount
        return dict(sorted(sums.items()))


def _total(qs: QuerySet[Any, Any]) -> Coalesce:
    return Coalesce(Subquery(qs, output_field=_AMOUNT), Value(Decimal(0)), output_field=_AMOUNT)


def credits_expiring(*, now: datetime) -> list[ExpiringGrant]:
    """Grants expired by `now` (expires_at <= now) with no expiry row from a run yet and something left,
    with the amount that would expire, oldest expiry first. A read without locks (the dry run's list);
    `credit_expire` re-reads the remainder with the grant locked."""
    consumed = (
        CreditConsumption.objects.filter(grant=OuterRef("pk"))
        .values("grant")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    restored = (
        CreditRestoration.objects.filter(consumption__grant=OuterRef("pk"))
        .values("consumption__grant")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    expired = (
        CreditExpiry.objects.filter(grant=OuterRef("pk"))
        .values("grant")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    rows = (
        CreditGrant.objects.filter(expires_at__lte=now)
        .exclude(Exists(CreditExpiry.objects.filter(grant=OuterRef("pk"), restoration__isnull=True)))
        .annotate(left=F("amount") - _total(consumed) + _total(restored) - _total(expired))
        .filter(left__gt=0)
        .order_by("expires_at", "id")
        .values_list("pk", "tenant_id", "tenant__slug", "currency", "left", "expires_at")
    )
    return [
        ExpiringGrant(pk, tenant_id, slug, currency, quantize_money(left, currency), expires_at)
        for pk, tenant_id, slug, currency, left, expires_at in rows
        if expires_at is not None  # always: expires_at <= now
    ]


def credit_expire(*, grant_id: int, now: datetime) -> CreditExpiry | None:
    """Expire one grant: with its row locked, post what is left as breakage and record it. None when it
    has not expired by `now`, was expired by a run already, or nothing is left."""
    with transaction.atomic():
        grant = CreditGrant.objects.select_for_update().get(pk=grant_id)
        if grant.expires_at is None or grant.expires_at > now:
            return None
        if CreditExpiry.objects.filter(grant=grant, restoration__isnull=True).exists():
            return None
        # exact already (grants, consumptions and restorations are in the minor unit); fixes the scale
        left = quantize_money(grant_remainders(grants=[grant])[grant.pk], grant.currency)
        if left <= 0:
            return None
        slug = grant.tenant.slug
        return credit_breakage_post(grant=grant, amount=left, tenant_slug=slug, at=now)


def credits_expire(
    *, now: datetime | None = None, progress: Callable[[int, int], None] | None = None
) -> ExpiryResult:
    """Expire every grant due by `now` (default: now), each in its own transaction. `progress(done,
    total)` is called before the first grant and after each one. A grant that fails (an application or
    database error) is listed in `failures` and raised as a ledger Alert; the others still expire."""
    now = now or timezone.now()
    result = ExpiryResult()
    due = credits_expiring(now=now)
    if progress is not None:
        progress(0, len(due))
    for done, item in enumerate(due, start=1):
        try:
            row = credit_expire(grant_id=item.grant_id, now=now)
        except (ApplicationError, DatabaseError) as err:
            message = err.message if isinstance(err, ApplicationError) else f"database error: {err}".strip()
            logger.warning("credit expiry of grant %s failed: %s", item.grant_id, message)
            result.failures.append(ExpiryFailure(item.grant_id, item.tenant_slug, message))
            alert_raise(
                kind=Alert.Kind.LEDGER,
                tenant_id=item.tenant_id,
                message=f"credit expiry of grant {item.grant_id} failed: {message}",
                now=now,
            )
        else:
            if row is not None:
                result.expired.append(
                    ExpiringGrant(
                        item.grant_id,
                        item.tenant_id,
                        item.tenant_slug,
                        item.currency,
                        row.amount,
                        item.expires_at,
                    )
                )
        if progress is not None:
            progress(done, len(due))
    return result
