"""Two workers closing the same tenant's period at once make one invoice (PostgreSQL row locks)."""

from __future__ import annotations

import functools
from datetime import UTC, datetime

import pytest

from billing.close.services import close_period
from ledger.models import Invoice, Transaction
from ledger.verify import ledger_verify
from tests.factories.ledger import after_grace, tax_rule, usage, world
from tests.threads import run_together

pytestmark = [pytest.mark.django_db(transaction=True)]


def test_concurrent_closes_make_one_invoice_and_one_ledger_transaction():
    w = world()
    tax_rule("DE", "19")
    usage(w.tenant, "api_calls", w.version, datetime(2026, 11, 5, tzinfo=UTC), "1000")
    results, errors = run_together(
        [lambda: close_period(tenant=w.tenant, period_key="2026-11", now=after_grace()) for _ in range(4)]
    )
    statuses = [result.status for result in results]
    assert errors == []
    assert sorted(statuses) == ["already_closed", "already_closed", "already_closed", "finalized"]
    assert Invoice.objects.count() == 1
    assert Transaction.objects.count() == 1
    assert ledger_verify().message == "OK 1"


def test_concurrent_closes_of_different_tenants_draw_gapless_chain_positions():
    tax_rule("DE", "19")
    tenants = []
    for i in range(4):
        w = world(slug=f"t{i}")
        usage(w.tenant, "api_calls", w.version, datetime(2026, 11, 5, tzinfo=UTC), "10")
        tenants.append(w.tenant)
    _results, errors = run_together(
        [functools.partial(close_period, tenant=t, period_key="2026-11", now=after_grace()) for t in tenants]
    )
    assert errors == []
    assert sorted(Transaction.objects.values_list("seq", flat=True)) == [1, 2, 3, 4]
    assert ledger_verify().message == "OK 4"
