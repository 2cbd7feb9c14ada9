"""Properties of closing, over generated usage and prices (hypothesis)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.close.services import close_period
from common.money import quantize_money
from ledger.models import Invoice, Posting, Transaction
from ledger.models.journal import stored_amount
from ledger.verify import ledger_verify
from tests.factories.ledger import after_grace, invoice_of, tax_rule, usage, world

pytestmark = pytest.mark.django_db

_slugs = itertools.count()

quantities = st.lists(
    st.decimals(min_value=0, max_value=100000, places=3, allow_nan=False, allow_infinity=False),
    min_size=1,
    max_size=4,
)
unit_amounts = st.decimals(min_value=Decimal("0.0001"), max_value=10, places=4)
currencies = st.sampled_from(["EUR", "JPY", "KWD"])
modes = st.sampled_from(["exclusive", "inclusive"])
rates = st.sampled_from(["0", "7.7", "19", "25"])


def _setup(currency: str, mode: str, rate: str, unit: Decimal, qs: list[Decimal], discount: bool):
    slug = f"p{next(_slugs)}"
    extra: dict[str, Any] = (
        {"discounts": [{"code": "d", "percent": "12.5", "priority": 1}]} if discount else {}
    )
    w = world(
        slug=slug,
        currency=currency,
        jurisdiction="DE",
        prices=[{"sku": "api_calls", "model": "per_unit", "unit_amount": str(unit)}],
        tax_mode=mode,
        **extra,
    )
    from billing.close.models import TaxRule

    if not TaxRule.objects.filter(jurisdiction="DE").exists():
        tax_rule("DE", rate)
    if currency != "EUR":
        from datetime import date

        from billing.close.models import ExchangeRate
        from tests.factories.ledger import fx_rate

        if not ExchangeRate.objects.filter(quote=currency).exists():
            fx_rate(date(2026, 11, 30), "EUR", currency, "160" if currency == "JPY" else "0.33")
    for i, q in enumerate(qs):
        usage(w.tenant, "api_calls", w.version, datetime(2026, 11, 2 + i, tzinfo=UTC), str(q))
    return w


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(currency=currencies, mode=modes, rate=rates, unit=unit_amounts, qs=quantities, discount=st.booleans())
def test_every_invoice_total_is_the_sum_of_its_rounded_lines_plus_tax(
    db, currency, mode, rate, unit, qs, discount
):
    w = _setup(currency, mode, rate, unit, qs, discount)
    invoice = invoice_of(close_period(tenant=w.tenant, period_key="2026-11", now=after_grace()))
    lines = list(invoice.lines.all())
    assert all(line.amount == quantize_money(line.amount, currency) for line in lines)
    subtotal = sum((line.amount for line in lines), Decimal(0))
    assert invoice.subtotal == subtotal
    expected = subtotal if invoice.tax_mode == "inclusive" else subtotal + invoice.tax_total
    assert invoice.total == expected
    assert invoice.tax_total == quantize_money(invoice.tax_exact, currency)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(currency=currencies, mode=modes, rate=rates, unit=unit_amounts, qs=quantities, discount=st.booleans())
def test_every_ledger_transaction_balances(db, currency, mode, rate, unit, qs, discount):
    w = _setup(currency, mode, rate, unit, qs, discount)
    close_period(tenant=w.tenant, period_key="2026-11", now=after_grace())
    for tx in Transaction.objects.filter(tenant=w.tenant):
        sums: dict[str, Decimal] = {}
        for p in Posting.objects.filter(transaction=tx):
            sums[p.currency] = sums.get(p.currency, Decimal(0)) + p.amount
        assert all(stored_amount(v) == 0 for v in sums.values())
    assert ledger_verify().ok


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    currency=currencies,
    mode=modes,
    rate=rates,
    unit=unit_amounts,
    qs=quantities,
    discount=st.booleans(),
    repeats=st.integers(min_value=2, max_value=4),
)
def test_closing_is_idempotent(db, currency, mode, rate, unit, qs, discount, repeats):
    w = _setup(currency, mode, rate, unit, qs, discount)
    results = [close_period(tenant=w.tenant, period_key="2026-11", now=after_grace()) for _ in range(repeats)]
    assert [r.status for r in results] == ["finalized"] + ["already_closed"] * (repeats - 1)
    assert len({r.invoice_id for r in results}) == 1
    assert Invoice.objects.filter(tenant=w.tenant).count() == 1
    total = Invoice.objects.get(tenant=w.tenant).total
    # an invoice of zero posts nothing
    assert Transaction.objects.filter(tenant=w.tenant).count() == (1 if total else 0)
