"""Prepaid credit grants, their consumption by finalized invoices (after tax, earliest expiry first, never
below zero), their restoration when such an invoice is voided and their breakage when they expire.

A grant's remainder is its amount less its consumptions, plus their restorations, less its expiries
(`grant_remainders`); every writer holds the grant row locked (SELECT ... FOR UPDATE) while it reads the
remainder and writes, so a finalization and an expiry never take the same money."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import F, Sum

from common.errors import ValidationFailed
from common.money import quantize_money
from ledger.audit.services import Actor, audit_record, audit_snapshot
from ledger.models import (
    CreditConsumption,
    CreditExpiry,
    CreditGrant,
    CreditRestoration,
    Invoice,
    Posting,
    Transaction,
)
from ledger.models.journal import stored_amount
from ledger.services import posting
from tenants.models import Tenant


def credit_grant_create(
    *,
    tenant: Tenant,
    amount: Decimal,
    currency: str,
    granted_at: datetime,
    expires_at: datetime | None = None,
    priority: int = 0,
    reason: str,
    fx_rate: Decimal | None = None,
    actor: Actor = None,
) -> CreditGrant:
    """A promotional prepaid credit: Dr discounts (contra-revenue), Cr prepaid-credit liability. Booked in
    the base currency with `fx_rate` (1 `currency` = fx_rate base; required for a foreign currency).
    Audited (`credit_grant.create`) as `actor`'s."""
    if amount <= 0 or quantize_money(amount, currency) != amount:
        raise ValidationFailed(f"a grant is a positive amount in {currency}'s minor unit")
    if currency != settings.LEDGER_BASE_CURRENCY and fx_rate is None:
        raise ValidationFailed("fx_rate is required for a grant in a foreign currency")
    with transaction.atomic():
        tx = posting.transaction_post(
            kind=Transaction.Kind.CREDIT_GRANT,
            legs=[
                posting.Leg(posting.DISCOUNTS, amount),
                posting.Leg(posting.prepaid(tenant.pk, tenant.slug), -amount),
            ],
            currency=currency,
            fx_rate=fx_rate or Decimal(1),
            tenant_id=tenant.pk,
            reference=f"grant:{tenant.slug}",
            memo=reason[:255],
            booked_at=granted_at,
        )
        assert tx is not None
        grant = CreditGrant.objects.create(
            tenant=tenant,
            amount=amount,
            currency=currency,
            priority=priority,
            granted_at=granted_at,
            expires_at=expires_at,
            reason=reason,
            ledger_transaction=tx,
        )
        audit_record(
            actor=actor,
            action="credit_grant.create",
            obj=grant,
            before=None,
            after=audit_snapshot(grant),
            reason=reason,
        )
        return grant


@dataclass(frozen=True)
class CreditUse:
    grant_id: int
    amount: Decimal


def _usable(*, tenant_id: int, currency: str, at: datetime, lock: bool) -> list[tuple[CreditGrant, Decimal]]:
    """Grants usable for an invoice whose period ends at `at`: granted before `at`, still valid at `at`
    (a grant that expires inside the period is not used), ordered earliest expiry first (open-ended
    last), then higher priority, then oldest; with their remaining amounts (net of breakage already
    posted: a period finalized late, after its grant expired and the expiry run took the rest, finds 0)."""
    qs = CreditGrant.objects.filter(tenant_id=tenant_id, currency=currency, granted_at__lt=at).exclude(
        expires_at__lte=at
    )
    if lock:
        qs = qs.select_for_update()
    grants = list(qs.order_by(F("expires_at").asc(nulls_last=True), "-priority", "id"))
    if not grants:
        return []
    left = grant_remainders(grants=grants)
    return [(g, left[g.pk]) for g in grants]


def grant_remainders(*, grants: list[CreditGrant]) -> dict[int, Decimal]:
    """Each grant's remainder by id: amount - consumptions + restorations - expiries (three aggregate
    queries). Read it with the grants locked when acting on it."""
    ids = [g.pk for g in grants]
    moved: dict[int, Decimal] = {}

    def add(rows: Iterable[tuple[int, Decimal | None]], sign: int) -> None:
        for grant_id, total in rows:
            moved[grant_id] = moved.get(grant_id, Decimal(0)) + sign * stored_amount(total)

    add(
        CreditConsumption.objects.filter(grant_id__in=ids)
        .values("grant_id")
        .annotate(total=Sum("amount"))
        .values_list("grant_id", "total"),
        -1,
    )
    add(
        CreditRestoration.objects.filter(consumption__grant_id__in=ids)
        .values("consumption__grant_id")
        .annotate(total=Sum("amount"))
        .values_list("consumption__grant_id", "total"),
        1,
    )
    add(
        CreditExpiry.objects.filter(grant_id__in=ids)
        .values("grant_id")
        .annotate(total=Sum("amount"))
        .values_list("grant_id", "total"),
        -1,
    )
    return {g.pk: g.amount + moved.get(g.pk, Decimal(0)) for g in grants}


def credits_plan(
    *, tenant_id: int, currency: str, at: datetime, due: Decimal, lock: bool = False
) -> list[CreditUse]:
    """How much of each usable grant pays `due` (after tax). Never more than a grant's remainder, never
    more than `due`."""
    plan: list[CreditUse] = []
    left = due
    for grant, remaining in _usable(tenant_id=tenant_id, currency=currency, at=at, lock=lock):
        if left <= 0:
            break
        take = min(remaining, left)
        if take > 0:
            plan.append(CreditUse(grant.pk, take))
            left -= take
    return plan


def _post_credit_move(
    *, invoice: Invoice, tenant_slug: str, amount: Decimal, restore: bool, memo: str, at: datetime
) -> Transaction:
    """Prepaid credit moving between the tenant's liability and its receivable for `invoice`:
    consumed (Dr prepaid, Cr receivable) or, when the invoice is voided, restored (the reverse)."""
    prepaid = posting.prepaid(invoice.tenant_id, tenant_slug)
    receivable = posting.receivable(invoice.tenant_id, tenant_slug)
    debit, credit = (receivable, prepaid) if restore else (prepaid, receivable)
    tx = posting.transaction_post(
        kind=Transaction.Kind.CREDIT_RESTORATION if restore else Transaction.Kind.CREDIT_CONSUMPTION,
        legs=[posting.Leg(debit, amount), posting.Leg(credit, -amount)],
        currency=invoice.currency,
        fx_rate=invoice.fx_rate or Decimal(1),
        tenant_id=invoice.tenant_id,
        reference=invoice.number or "",
        memo=memo,
        booked_at=at,
    )
    if tx is None:  # transaction_post returns None only for an all-zero transaction
        raise ValidationFailed("a prepaid-credit move needs a non-zero amount")
    return tx


def credits_consume(*, invoice: Invoice, plan: list[CreditUse], tenant_slug: str, at: datetime) -> None:
    """One ledger transaction per grant consumed: Dr prepaid-credit liability, Cr receivable."""
    for use in plan:
        tx = _post_credit_move(
            invoice=invoice,
            tenant_slug=tenant_slug,
            amount=use.amount,
            restore=False,
            memo=f"credit grant {use.grant_id}",
            at=at,
        )
        CreditConsumption.objects.create(
            grant_id=use.grant_id, invoice=invoice, amount=use.amount, created_at=at, ledger_transaction=tx
        )


def credits_restore(*, invoice: Invoice, tenant_slug: str, at: datetime) -> Decimal:
    """Give back the prepaid credit `invoice` consumed (it is being voided): one ledger transaction per
    consumption, Dr receivable, Cr prepaid-credit liability, and a CreditRestoration that makes the
    amount usable again. Idempotent: a consumption is restored once. Returns the amount restored.

    Credit given back to a grant that has expired by `at` can never be spent again: it is breakage at
    once, in the same transaction (`credit_breakage_post`, a CreditExpiry row for the restoration). The
    grants are locked first, as a finalization and the expiry run lock them."""
    uses = list(CreditConsumption.objects.filter(invoice=invoice, restoration__isnull=True).order_by("id"))
    locked = {
        g.pk: g
        for g in CreditGrant.objects.select_for_update()
        .filter(pk__in={use.grant_id for use in uses})
        .order_by(F("expires_at").asc(nulls_last=True), "-priority", "id")  # as `_usable` locks them
    }
    restored = Decimal(0)
    for use in uses:
        tx = _post_credit_move(
            invoice=invoice,
            tenant_slug=tenant_slug,
            amount=use.amount,
            restore=True,
            memo=f"credit grant {use.grant_id} restored",
            at=at,
        )
        restoration = CreditRestoration.objects.create(
            consumption=use, amount=use.amount, created_at=at, ledger_transaction=tx
        )
        grant = locked[use.grant_id]
        if grant.expires_at is not None and grant.expires_at <= at:
            credit_breakage_post(
                grant=grant, amount=use.amount, tenant_slug=tenant_slug, at=at, restoration=restoration
            )
        restored += use.amount
    return restored


def grant_fx_rate(grant: CreditGrant) -> Decimal:
    """The rate the grant was booked at (1 `currency` = rate base): 1 in the base currency, else the
    base/original ratio of its prepaid leg, so breakage releases the liability at the value it was booked
    (to within the base currency's minor unit, the rounding of that leg)."""
    if grant.currency == settings.LEDGER_BASE_CURRENCY:
        return Decimal(1)
    leg = Posting.objects.get(
        transaction_id=grant.ledger_transaction_id,
        original_currency=grant.currency,
        original_amount=-grant.amount,
    )
    return leg.amount / leg.original_amount


def credit_breakage_post(
    *,
    grant: CreditGrant,
    amount: Decimal,
    tenant_slug: str,
    at: datetime,
    restoration: CreditRestoration | None = None,
) -> CreditExpiry:
    """Post `amount` of the expired `grant` (held locked by the caller) as breakage: one transaction of kind
    credit_expiry, Dr prepaid-credit liability, Cr breakage revenue, in the grant's currency at its booking
    rate; and its CreditExpiry row (for `restoration` when it is credit given back after the expiry)."""
    if grant.expires_at is None or amount <= 0:
        raise ValidationFailed("only a positive amount of a grant with an expiry can expire")
    memo = f"credit grant {grant.pk} expired"
    tx = posting.transaction_post(
        kind=Transaction.Kind.CREDIT_EXPIRY,
        legs=[
            posting.Leg(posting.prepaid(grant.tenant_id, tenant_slug), amount),
            posting.Leg(posting.BREAKAGE, -amount),
        ],
        currency=grant.currency,
        fx_rate=grant_fx_rate(grant),
        tenant_id=grant.tenant_id,
        reference=f"grant:{grant.pk}",
        memo=memo if restoration is None else f"{memo} (restored after expiry)",
        booked_at=at,
    )
    assert tx is not None  # amount > 0
    expiry = CreditExpiry.objects.create(
        grant=grant,
        restoration=restoration,
        amount=amount,
        expired_at=grant.expires_at,
        created_at=at,
        ledger_transaction=tx,
    )
    audit_record(
        actor=None,
        action="credit_grant.expire",
        obj=grant,
        before=None,
        after=audit_snapshot(expiry, exclude=["grant", "created_at"]),
        reason="expired" if restoration is None else "expired: credit given back after the grant's expiry",
        at=at,
    )
    return expiry
