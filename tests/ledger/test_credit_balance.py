"""The tenant's prepaid credit balance with expiries (ledger.credit_balance)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from billing.close.services import close_period
from ledger.credit_balance import tenant_credit_balance
from ledger.services.credits import credit_grant_create
from tests.factories.ledger import after_grace, tax_rule, usage, world

pytestmark = pytest.mark.django_db

OCT_1 = datetime(2026, 10, 1, tzinfo=UTC)
JUN_30 = datetime(2027, 6, 30, tzinfo=UTC)
DEC_10 = datetime(2026, 12, 10, tzinfo=UTC)


def test_it_shows_what_an_invoice_used_and_what_is_left_until_it_expires():
    w = world(slug="acme")
    tax_rule("DE", "19")
    credit_grant_create(
        tenant=w.tenant,
        amount=Decimal("200.00"),
        currency="EUR",
        granted_at=OCT_1,
        expires_at=JUN_30,
        reason="promo",
    )
    usage(w.tenant, "api_calls", w.version, datetime(2026, 11, 10, tzinfo=UTC), "1000")
    close_period(tenant=w.tenant, period_key="2026-11", now=after_grace())  # 100.00 + 19 % = 119.00

    balance = tenant_credit_balance(tenant=w.tenant, now=DEC_10)

    (grant,) = balance.grants
    assert (grant.amount, grant.used, grant.remaining, grant.expires_at, grant.reason) == (
        Decimal("200.00"),
        Decimal("119.00"),
        Decimal("81.00"),
        JUN_30,
        "promo",
    )
    assert balance.totals == {"EUR": Decimal("81.00")}


def test_it_leaves_out_expired_grants_and_orders_by_expiry():
    w = world(slug="acme")
    for amount, expires in (
        ("10.00", None),
        ("20.00", JUN_30),
        ("30.00", datetime(2026, 11, 30, tzinfo=UTC)),
    ):
        credit_grant_create(
            tenant=w.tenant,
            amount=Decimal(amount),
            currency="EUR",
            granted_at=OCT_1,
            expires_at=expires,
            reason=f"grant {amount}",
        )

    balance = tenant_credit_balance(tenant=w.tenant, now=DEC_10)

    assert [g.remaining for g in balance.grants] == [Decimal("20.00"), Decimal("10.00")]
    assert balance.totals == {"EUR": Decimal("30.00")}


def test_it_never_shows_another_tenants_grants():
    mine = world(slug="mine")
    other = world(slug="other")
    credit_grant_create(
        tenant=other.tenant, amount=Decimal("99.00"), currency="EUR", granted_at=OCT_1, reason="theirs"
    )

    balance = tenant_credit_balance(tenant=mine.tenant, now=DEC_10)

    assert (balance.grants, balance.totals) == ([], {})
