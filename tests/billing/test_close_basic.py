"""Period close: the basic path, grace window, idempotency, numbering, immutability."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from billing.close.drafts import invoice_preview
from billing.close.services import close_period
from billing.rating.models import BillingPeriod
from ledger.models import Invoice, Transaction
from ledger.selectors import account_balance
from ledger.verify import ledger_verify
from tests.factories.ledger import after_grace, close_in_batch, invoice_of, tax_rule, usage, world

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True, params=["one_tenant", "batch"])
def both_close_paths(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs against `close_period` and against the batch close (`close_periods`)."""
    if request.param == "batch":
        monkeypatch.setattr(sys.modules[__name__], "close_period", close_in_batch)


NOV_10 = datetime(2026, 11, 10, 9, 30, tzinfo=UTC)


def _acme():
    w = world(slug="acme")
    tax_rule("DE", "19")
    usage(w.tenant, "api_calls", w.version, NOV_10, "1000")
    return w


def test_it_finalizes_an_invoice_after_the_grace_window():
    w = _acme()
    result = close_period(tenant=w.tenant, period_key="2026-11", now=after_grace())
    invoice = invoice_of(result)
    # 1000 x 0.10 = 100.00; 19 % = 19.00
    assert result.status == "finalized"
    assert (invoice.subtotal, invoice.tax_total, invoice.total) == (
        Decimal("100.00"),
        Decimal("19.00"),
        Decimal("119.00"),
    )
    assert invoice.number == "ACME-2026-000001"
    assert invoice.status == Invoice.Status.FINALIZED


def test_it_posts_the_invoice_to_the_ledger():
    w = _acme()
    close_period(tenant=w.tenant, period_key="2026-11", now=after_grace())
    assert account_balance(code="receivable:acme") == {"EUR": Decimal("119.00")}
    assert account_balance(code="revenue:Compute") == {"EUR": Decimal("-100.00")}
    assert account_balance(code="tax_payable:DE") == {"EUR": Decimal("-19.00")}
    assert ledger_verify().message == "OK 1"


def test_it_closes_the_billing_period_so_rating_flags_later_events_late():
    w = _acme()
    close_period(tenant=w.tenant, period_key="2026-11", now=after_grace())
    period = BillingPeriod.objects.get(tenant=w.tenant, key="2026-11")
    assert period.status == BillingPeriod.Status.CLOSED
    assert period.start == datetime(2026, 11, 1, tzinfo=UTC)


def test_before_the_grace_window_it_only_refreshes_a_draft():
    w = _acme()
    # the period ended 2026-12-01 00:00 UTC; grace is 72 h
    result = close_period(tenant=w.tenant, period_key="2026-11", now=datetime(2026, 12, 3, 23, tzinfo=UTC))
    invoice = invoice_of(result)
    assert result.status == "draft"
    assert invoice.number is None
    assert invoice.total == Decimal("119.00")
    assert Transaction.objects.count() == 0


def test_the_draft_is_recomputed_on_each_refresh():
    w = _acme()
    first = invoice_preview(tenant=w.tenant, now=datetime(2026, 11, 20, tzinfo=UTC))
    usage(w.tenant, "api_calls", w.version, datetime(2026, 11, 21, tzinfo=UTC), "500")
    second = invoice_preview(tenant=w.tenant, now=datetime(2026, 11, 22, tzinfo=UTC))
    assert first.invoice_id == second.invoice_id
    assert invoice_of(second).subtotal == Decimal("150.00")


def test_closing_twice_makes_one_invoice():
    w = _acme()
    first = close_period(tenant=w.tenant, period_key="2026-11", now=after_grace())
    second = close_period(tenant=w.tenant, period_key="2026-11", now=after_grace())
    assert second.status == "already_closed"
    assert second.invoice_id == first.invoice_id
    assert Invoice.objects.count() == 1
    assert Transaction.objects.count() == 1


def test_without_a_period_key_it_closes_the_last_ended_period():
    w = _acme()
    result = close_period(tenant=w.tenant, now=after_grace("2026-11"))
    assert (result.status, result.period_key) == ("finalized", "2026-11")


def test_numbers_are_sequential_and_gapless_per_series_and_year():
    w = _acme()
    usage(w.tenant, "api_calls", w.version, datetime(2026, 9, 3, tzinfo=UTC), "1")
    usage(w.tenant, "api_calls", w.version, datetime(2026, 10, 3, tzinfo=UTC), "1")
    numbers = [
        close_period(tenant=w.tenant, period_key=key, now=after_grace("2026-11")).number
        for key in ("2026-09", "2026-10", "2026-11")
    ]
    assert numbers == ["ACME-2026-000001", "ACME-2026-000002", "ACME-2026-000003"]


def test_a_blocked_close_draws_no_number():
    w = world(slug="acme")  # no tax rule at all
    usage(w.tenant, "api_calls", w.version, NOV_10, "10")
    blocked = close_period(tenant=w.tenant, period_key="2026-11", now=after_grace())
    tax_rule("DE", "19")
    done = close_period(tenant=w.tenant, period_key="2026-11", now=after_grace())
    assert blocked.status == "blocked"
    assert done.number == "ACME-2026-000001"


def test_raw_sql_update_of_a_finalized_invoice_fails():
    w = _acme()
    result = close_period(tenant=w.tenant, period_key="2026-11", now=after_grace())
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE ledger_invoice SET total = 1 WHERE id = %s", [result.invoice_id])


def test_raw_sql_delete_of_a_finalized_invoice_fails():
    w = _acme()
    result = close_period(tenant=w.tenant, period_key="2026-11", now=after_grace())
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM ledger_invoice WHERE id = %s", [result.invoice_id])


def test_raw_sql_update_of_a_finalized_invoice_line_fails():
    w = _acme()
    result = close_period(tenant=w.tenant, period_key="2026-11", now=after_grace())
    line = invoice_of(result).lines.get()
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE ledger_invoiceline SET amount = 0 WHERE id = %s", [line.pk])


def test_raw_sql_insert_of_a_line_into_a_finalized_invoice_fails():
    w = _acme()
    result = close_period(tenant=w.tenant, period_key="2026-11", now=after_grace())
    line = invoice_of(result).lines.get()
    line.pk = None
    line.position = 2
    with pytest.raises(IntegrityError), transaction.atomic():
        line.save()


def test_the_orm_cannot_edit_a_finalized_invoice_either():
    w = _acme()
    result = close_period(tenant=w.tenant, period_key="2026-11", now=after_grace())
    invoice = invoice_of(result)
    invoice.period_key = "2026-10"
    with pytest.raises(IntegrityError), transaction.atomic():
        invoice.save()


def test_the_invoice_stores_the_fx_rate_used_identity_for_the_base_currency():
    w = _acme()
    invoice = invoice_of(close_period(tenant=w.tenant, period_key="2026-11", now=after_grace()))
    assert (invoice.fx_rate, invoice.fx_source, invoice.base_total) == (
        Decimal(1),
        "identity",
        Decimal("119.00"),
    )


def test_a_tax_rule_that_ended_before_the_period_end_does_not_apply():
    w = world(slug="acme")
    from billing.close.models import TaxRule

    TaxRule.objects.create(
        jurisdiction="DE",
        name="old",
        rate=Decimal("16"),
        effective_from=date(2020, 1, 1),
        effective_to=date(2026, 11, 30),
    )
    tax_rule("DE", "19", start=date(2026, 11, 30))
    usage(w.tenant, "api_calls", w.version, NOV_10, "1000")
    invoice = invoice_of(close_period(tenant=w.tenant, period_key="2026-11", now=after_grace()))
    assert (invoice.tax_rate, invoice.tax_total) == (Decimal("19"), Decimal("19.00"))
