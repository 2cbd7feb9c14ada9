"""Prepaid credit expiry (breakage): the unused part of an expired grant leaves the prepaid liability for
breakage revenue, once; credit given back after the expiry is breakage at once."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.core.management import CommandError, call_command

from billing.close.services import close_period
from common.errors import ValidationFailed
from ledger.models import Alert, CreditConsumption, CreditExpiry, CreditGrant, Invoice, Posting, Transaction
from ledger.selectors import account_balance
from ledger.services import expiry
from ledger.services.credits import credit_breakage_post, credit_grant_create, credits_plan
from ledger.services.expiry import ExpiryResult, credits_expire
from ledger.services.invoicing import invoice_finalize, invoice_void
from ledger.tasks import credits_expire as credits_expire_task
from tenants.models import Tenant
from tests.factories.ledger import after_grace, invoice_of, tax_rule, usage, world
from tests.threads import held_open_in_another_thread, in_thread

pytestmark = pytest.mark.django_db

OCT_1 = datetime(2026, 10, 1, tzinfo=UTC)
NOV_5 = datetime(2026, 11, 5, 10, tzinfo=UTC)
DEC_15 = datetime(2026, 12, 15, tzinfo=UTC)
DEC_16 = datetime(2026, 12, 16, tzinfo=UTC)
DEC_20 = datetime(2026, 12, 20, tzinfo=UTC)


def _grant(
    tenant: Tenant, amount: str = "100.00", expires_at: datetime | None = DEC_15, **kw: Any
) -> CreditGrant:
    return credit_grant_create(
        tenant=tenant,
        amount=Decimal(amount),
        currency=kw.pop("currency", "EUR"),
        granted_at=OCT_1,
        expires_at=expires_at,
        reason="welcome credit",
        **kw,
    )


def _tenant_using(
    amount_used_units: str, *, slug: str = "acme", grant: str = "100.00"
) -> tuple[Tenant, Invoice]:
    """A tenant with a 100.00 EUR grant expiring on 15 Dec and a November invoice (0.10 per unit + 19 %
    tax) finalized on 6 Dec that consumed credit."""
    w = world(slug=slug)
    _grant(w.tenant, grant)
    usage(w.tenant, "api_calls", w.version, NOV_5, amount_used_units)
    invoice = invoice_of(close_period(tenant=w.tenant, period_key="2026-11", now=after_grace()))
    return w.tenant, invoice


def _legs(tx: Transaction) -> list[tuple[str, Decimal]]:
    return sorted(
        (p.account.code, p.amount) for p in Posting.objects.filter(transaction=tx).select_related("account")
    )


def test_it_posts_the_unused_part_of_an_expired_grant_as_breakage():
    tax_rule("DE", "19")
    # 620.2 units x 0.10 = 62.02; tax 62.02 x 19 % = 11.7838 -> 11.78; total 73.80, all paid by credit
    tenant, invoice = _tenant_using("620.2")
    assert (invoice.total, invoice.credits_applied, invoice.amount_due) == (
        Decimal("73.80"),
        Decimal("73.80"),
        Decimal("0.00"),
    )

    result = credits_expire(now=DEC_16)

    # 100.00 granted - 73.80 consumed = 26.20 left at the expiry
    row = CreditExpiry.objects.get()
    assert (row.grant.tenant_id, row.amount, row.expired_at, row.restoration) == (
        tenant.pk,
        Decimal("26.20"),
        DEC_15,
        None,
    )
    assert row.ledger_transaction.kind == Transaction.Kind.CREDIT_EXPIRY
    assert _legs(row.ledger_transaction) == [
        ("prepaid:acme", Decimal("26.20")),
        ("revenue:breakage", Decimal("-26.20")),
    ]
    assert account_balance(code="prepaid:acme") == {"EUR": Decimal("0.00")}
    assert account_balance(code="revenue:breakage") == {"EUR": Decimal("-26.20")}
    assert result.totals() == {"EUR": Decimal("26.20")}
    assert result.failures == []


def test_the_ledger_verifies_after_an_expiry():
    tax_rule("DE", "19")
    _tenant_using("620.2")
    credits_expire(now=DEC_16)
    out = StringIO()

    call_command("ledger_verify", stdout=out)

    count = Transaction.objects.count()
    assert count == 4  # grant, invoice, consumption, expiry
    assert out.getvalue().strip() == f"OK {count}"


def test_it_posts_once_when_run_twice():
    tax_rule("DE", "19")
    _tenant_using("620.2")
    credits_expire(now=DEC_16)

    again = credits_expire(now=DEC_20)

    assert (again.expired, again.failures) == ([], [])
    assert list(CreditExpiry.objects.values_list("amount", flat=True)) == [Decimal("26.20")]
    assert Transaction.objects.filter(kind=Transaction.Kind.CREDIT_EXPIRY).count() == 1


def test_it_leaves_a_grant_not_yet_expired_untouched():
    tax_rule("DE", "19")
    _tenant_using("620.2")

    result = credits_expire(now=datetime(2026, 12, 14, 23, 59, 59, tzinfo=UTC))

    assert (result.expired, CreditExpiry.objects.count()) == ([], 0)
    assert account_balance(code="prepaid:acme") == {"EUR": Decimal("-26.20")}


def test_a_grant_expires_at_the_instant_of_its_expiry():
    w = world()
    _grant(w.tenant, "10.00")

    result = credits_expire(now=DEC_15)

    assert [(e.grant_id, e.amount) for e in result.expired] == [
        (CreditGrant.objects.get().pk, Decimal("10.00"))
    ]


def test_a_fully_used_grant_expires_with_nothing_posted_and_is_no_candidate_again():
    tax_rule("DE", "19")
    # 1000 x 0.10 = 100.00 + 19.00 tax = 119.00: the 100.00 grant is used up
    _tenant_using("1000")
    assert CreditConsumption.objects.get().amount == Decimal("100.00")

    result = credits_expire(now=DEC_16)

    assert (result.expired, result.failures) == ([], [])
    assert CreditExpiry.objects.count() == 0
    assert Transaction.objects.filter(kind=Transaction.Kind.CREDIT_EXPIRY).count() == 0
    assert expiry.credits_expiring(now=DEC_20) == []


def test_a_grant_without_expiry_never_expires():
    w = world()
    _grant(w.tenant, "10.00", expires_at=None)

    assert credits_expire(now=datetime(2099, 1, 1, tzinfo=UTC)).expired == []


def test_the_remainder_of_an_expired_grant_is_not_applied_to_a_late_invoice_of_an_earlier_period():
    # the grant is valid at the November period's end (1 Dec) but expires on 3 Dec, before the close
    w = world()
    tax_rule("DE", "19")
    _grant(w.tenant, "100.00", expires_at=datetime(2026, 12, 3, tzinfo=UTC))
    usage(w.tenant, "api_calls", w.version, NOV_5, "1000")  # 100.00 + 19.00 = 119.00
    credits_expire(now=datetime(2026, 12, 4, tzinfo=UTC))
    assert CreditExpiry.objects.get().amount == Decimal("100.00")

    invoice = invoice_of(close_period(tenant=w.tenant, period_key="2026-11", now=after_grace()))

    assert (invoice.credits_applied, invoice.amount_due) == (Decimal("0.00"), Decimal("119.00"))
    assert CreditConsumption.objects.count() == 0
    assert account_balance(code="prepaid:acme") == {"EUR": Decimal("0.00")}


def test_the_remainder_of_an_expired_grant_is_not_planned_for_a_later_period():
    tax_rule("DE", "19")
    tenant, _invoice = _tenant_using("620.2")
    credits_expire(now=DEC_16)

    plan = credits_plan(
        tenant_id=tenant.pk, currency="EUR", at=datetime(2027, 1, 1, tzinfo=UTC), due=Decimal("50.00")
    )

    assert plan == []


def test_credit_given_back_after_the_expiry_run_is_breakage_at_once():
    tax_rule("DE", "19")
    tenant, invoice = _tenant_using("620.2")
    credits_expire(now=DEC_16)  # 26.20

    invoice_void(invoice=invoice, reason="wrong customer", now=DEC_20)

    rows = list(CreditExpiry.objects.order_by("id"))
    assert [(r.amount, r.restoration is not None) for r in rows] == [
        (Decimal("26.20"), False),
        (Decimal("73.80"), True),
    ]
    assert rows[1].restoration is not None
    assert rows[1].restoration.amount == Decimal("73.80")
    assert _legs(rows[1].ledger_transaction) == [
        ("prepaid:acme", Decimal("73.80")),
        ("revenue:breakage", Decimal("-73.80")),
    ]
    # the whole 100.00 grant is breakage; nothing of it is left to spend, and the receivable is settled
    assert account_balance(code="revenue:breakage") == {"EUR": Decimal("-100.00")}
    assert account_balance(code="prepaid:acme") == {"EUR": Decimal("0.00")}
    assert account_balance(code="receivable:acme") == {"EUR": Decimal("0.00")}
    earlier_period_end = datetime(2026, 12, 1, tzinfo=UTC)
    assert credits_plan(tenant_id=tenant.pk, currency="EUR", at=earlier_period_end, due=Decimal("80")) == []
    assert credits_expire(now=DEC_20).expired == []
    call_command("ledger_verify", stdout=StringIO())


def test_credit_given_back_after_the_expiry_but_before_the_run_is_not_expired_twice():
    tax_rule("DE", "19")
    _tenant_using("620.2")
    invoice = Invoice.objects.get()
    invoice_void(invoice=invoice, reason="wrong customer", now=DEC_16)  # expired, no run yet

    result = credits_expire(now=DEC_20)

    # 73.80 at the void, then the run takes the 26.20 the invoice never used: 100.00 in all
    assert sorted(CreditExpiry.objects.values_list("amount", flat=True)) == [
        Decimal("26.20"),
        Decimal("73.80"),
    ]
    assert result.totals() == {"EUR": Decimal("26.20")}
    assert account_balance(code="revenue:breakage") == {"EUR": Decimal("-100.00")}
    assert account_balance(code="prepaid:acme") == {"EUR": Decimal("0.00")}


def test_credit_given_back_before_the_expiry_is_usable_again_and_expires_with_the_rest():
    tax_rule("DE", "19")
    _tenant_using("620.2")
    invoice_void(
        invoice=Invoice.objects.get(), reason="wrong customer", now=datetime(2026, 12, 10, tzinfo=UTC)
    )
    assert CreditExpiry.objects.count() == 0

    credits_expire(now=DEC_16)

    assert CreditExpiry.objects.get().amount == Decimal("100.00")


def test_one_tenants_failure_does_not_stop_another_and_raises_an_alert(monkeypatch):
    failing, fine = world(slug="acme"), world(slug="globex")
    bad = _grant(failing.tenant, "10.00")
    _grant(fine.tenant, "20.00")

    def post(*, grant: CreditGrant, **kw: Any) -> CreditExpiry:
        if grant.pk == bad.pk:
            raise ValidationFailed("no breakage account today")
        return credit_breakage_post(grant=grant, **kw)

    monkeypatch.setattr("ledger.services.expiry.credit_breakage_post", post)

    result = credits_expire(now=DEC_16)

    assert [(e.tenant_slug, e.amount) for e in result.expired] == [("globex", Decimal("20.00"))]
    assert [(f.grant_id, f.tenant_slug, f.message) for f in result.failures] == [
        (bad.pk, "acme", "no breakage account today")
    ]
    alert = Alert.objects.get()
    assert (alert.kind, alert.tenant_id, alert.message) == (
        Alert.Kind.LEDGER,
        failing.tenant.pk,
        f"credit expiry of grant {bad.pk} failed: no breakage account today",
    )
    assert account_balance(code="prepaid:acme") == {"EUR": Decimal("-10.00")}
    assert account_balance(code="prepaid:globex") == {"EUR": Decimal("0.00")}


def test_a_foreign_currency_grant_expires_at_the_rate_it_was_granted():
    w = world()
    _grant(w.tenant, "100.00", currency="USD", fx_rate=Decimal("0.9234"))  # booked 92.34 EUR

    credits_expire(now=DEC_16)

    row = CreditExpiry.objects.get()
    assert (row.amount, row.grant.currency) == (Decimal("100.00"), "USD")
    legs = Posting.objects.filter(transaction=row.ledger_transaction).order_by("account__code")
    assert [(p.account.code, p.amount, p.original_amount, p.original_currency) for p in legs] == [
        ("prepaid:acme", Decimal("92.34"), Decimal("100.00"), "USD"),
        ("revenue:breakage", Decimal("-92.34"), Decimal("-100.00"), "USD"),
    ]
    assert account_balance(code="prepaid:acme") == {settings.LEDGER_BASE_CURRENCY: Decimal("0.00")}


def test_the_command_expires_and_prints_a_summary():
    tax_rule("DE", "19")
    _tenant_using("620.2")
    grant = CreditGrant.objects.get()
    out = StringIO()

    call_command("credits_expire", "--at", "2026-12-16T00:00:00+00:00", "--no-progress", stdout=out)

    assert out.getvalue().splitlines() == [
        f"grant {grant.pk} acme 26.20 EUR",
        "1 grants expired: 26.20 EUR; 0 failed",
    ]
    assert CreditExpiry.objects.get().amount == Decimal("26.20")


def test_the_command_dry_run_lists_and_posts_nothing():
    tax_rule("DE", "19")
    _tenant_using("620.2")
    grant = CreditGrant.objects.get()
    out = StringIO()

    call_command("credits_expire", "--at", "2026-12-16T00:00:00+00:00", "--dry-run", stdout=out)

    assert out.getvalue().splitlines() == [
        f"would expire grant {grant.pk} acme 26.20 EUR",
        "dry run: 1 grants would expire: 26.20 EUR",
    ]
    assert CreditExpiry.objects.count() == 0


def test_the_command_exits_non_zero_when_a_grant_fails(monkeypatch):
    w = world()
    grant = _grant(w.tenant, "10.00")

    def fail(**kw: Any) -> CreditExpiry:
        raise ValidationFailed("boom")

    monkeypatch.setattr("ledger.services.expiry.credit_breakage_post", fail)
    out = StringIO()

    with pytest.raises(CommandError) as excinfo:
        call_command("credits_expire", "--at", "2026-12-16T00:00:00+00:00", "--no-progress", stdout=out)

    assert excinfo.value.returncode == 1
    assert str(excinfo.value) == "1 grants failed to expire"
    assert out.getvalue().splitlines() == [
        f"FAILED grant {grant.pk} acme: boom",
        "0 grants expired: nothing; 1 failed",
    ]


def test_the_command_refuses_an_instant_without_a_time_zone():
    with pytest.raises(CommandError, match="--at needs a time zone"):
        call_command("credits_expire", "--at", "2026-12-16T00:00:00")


def test_the_beat_task_expires_the_grants_due_now():
    w = world()
    _grant(w.tenant, "10.00")  # expires on 15 Dec 2026

    with time_machine.travel(DEC_16, tick=False):
        outcome = credits_expire_task()

    assert outcome == {"expired": 1, "failures": 0}
    row = CreditExpiry.objects.get()
    assert (row.amount, row.created_at) == (Decimal("10.00"), DEC_16)


def test_the_beat_schedule_runs_the_expiry_hourly():
    assert settings.CELERY_BEAT_SCHEDULE["ledger-credits-expire"] == {
        "task": "ledger.credits_expire",
        "schedule": 3600,
    }


def test_finance_viewers_may_view_credit_expiries_and_nobody_may_change_them_in_the_admin():
    from django.contrib.admin import site
    from django.test import RequestFactory

    from tenants.models import Role
    from tenants.services import ROLE_PERMISSIONS

    assert "ledger.view_creditexpiry" in ROLE_PERMISSIONS[Role.FINANCE_VIEWER]
    assert "ledger.change_creditexpiry" not in ROLE_PERMISSIONS[Role.FINANCE_EDITOR]
    model_admin, request = site._registry[CreditExpiry], RequestFactory().get("/admin/")
    assert (model_admin.has_add_permission(request), model_admin.has_delete_permission(request)) == (
        False,
        False,
    )


@pytest.mark.django_db(transaction=True)
def test_the_expiry_waits_for_a_finalization_consuming_the_same_grant_and_takes_only_the_rest():
    # given a November draft (73.80) and a 100.00 grant expiring 15 Dec; the invoice is finalized late,
    # on 16 Dec (its period ended before the expiry, so the grant is still usable for it)
    w = world()
    tax_rule("DE", "19")
    _grant(w.tenant, "100.00")
    usage(w.tenant, "api_calls", w.version, NOV_5, "620.2")
    draft = invoice_of(
        close_period(tenant=w.tenant, period_key="2026-11", now=datetime(2026, 12, 1, 1, tzinfo=UTC))
    )
    outcome: list[ExpiryResult] = []

    # when the expiry runs while the finalization holds the grant locked
    with held_open_in_another_thread(
        lambda: invoice_finalize(invoice=draft, tenant=w.tenant, now=DEC_16)
    ) as finalized:
        expirer = in_thread(lambda: outcome.append(credits_expire(now=DEC_16)))
        expirer.join(timeout=1.0)
        waited = expirer.is_alive()
    expirer.join(timeout=10)

    # then it waited, and took only what the invoice left: 100.00 - 73.80 = 26.20
    assert waited is True
    assert finalized.credits_applied == Decimal("73.80")
    assert outcome[0].totals() == {"EUR": Decimal("26.20")}
    assert account_balance(code="prepaid:acme") == {"EUR": Decimal("0.00")}
