"""The batch close (`close_periods`): many tenants per transaction, each tenant's outcome as if it had
been closed alone. (The suites test_close_basic and test_close_scenarios also run through it.)"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.db import transaction

from billing.close import finalize as close_finalize
from billing.close.compute import invoice_compute
from billing.close.services import close_period, close_periods
from common.errors import ValidationFailed
from ledger.models import Alert, Invoice, InvoiceLine, Posting, Transaction
from ledger.verify import ledger_verify
from tenants.models import Tenant
from tests.factories.ledger import after_grace, fx_rate, tax_rule, usage, world

pytestmark = pytest.mark.django_db

NOV_5 = datetime(2026, 11, 5, 10, tzinfo=UTC)


def _three_tenants() -> list[Tenant]:
    tax_rule("DE", "19")
    tenants = []
    for slug, jurisdiction, quantity in (
        ("alpha", "DE", "1000"),
        ("beta", "FR", "50"),
        ("gamma", "DE", "20"),
    ):
        w = (
            world(slug=slug, jurisdiction=jurisdiction)
            if slug == "alpha"
            else world(
                slug=slug,
                jurisdiction=jurisdiction,
                prices=[{"sku": f"calls_{slug}", "model": "per_unit", "unit_amount": "0.10"}],
            )
        )
        sku_code = "api_calls" if slug == "alpha" else f"calls_{slug}"
        usage(w.tenant, sku_code, w.version, NOV_5, quantity)
        tenants.append(w.tenant)
    return tenants


def test_a_blocked_tenant_does_not_stop_the_others_of_its_batch():
    # given three tenants, the second in FR where no tax rule exists
    tenants = _three_tenants()

    # when they are closed in one batch
    results = close_periods(tenants=tenants, period_key="2026-11", now=after_grace())

    # then the other two are finalized, numbered and posted; the FR one is stored as blocked
    assert [(r.tenant_slug, r.status, r.number) for r in results] == [
        ("alpha", "finalized", "ALPHA-2026-000001"),
        ("beta", "blocked", None),
        ("gamma", "finalized", "GAMMA-2026-000001"),
    ]
    assert "no tax rule in force for jurisdiction 'FR'" in results[1].message
    totals = dict(Invoice.objects.values_list("tenant__slug", "total"))
    assert totals == {"alpha": Decimal("119.00"), "beta": Decimal("5.00"), "gamma": Decimal("2.38")}
    assert Invoice.objects.get(tenant__slug="beta").status == Invoice.Status.BLOCKED
    assert ledger_verify().message == "OK 2"


def test_closing_the_batch_again_reports_already_closed_and_adds_nothing():
    tenants = _three_tenants()
    close_periods(tenants=tenants, period_key="2026-11", now=after_grace())

    again = close_periods(tenants=tenants, period_key="2026-11", now=after_grace())

    assert [r.status for r in again] == ["already_closed", "blocked", "already_closed"]
    assert Invoice.objects.count() == 3
    assert Transaction.objects.count() == 2


def _snapshot() -> list[Any]:
    invoices = [
        (i.tenant.slug, i.number, i.status, i.subtotal, i.tax_total, i.total, i.base_total, i.fx_rate)
        for i in Invoice.objects.select_related("tenant").order_by("tenant__slug")
    ]
    lines = list(
        InvoiceLine.objects.order_by("invoice__tenant__slug", "position").values_list(
            "invoice__tenant__slug",
            "position",
            "kind",
            "description",
            "quantity",
            "unit_price",
            "amount_exact",
            "amount",
            "breakdown",
            "segment_start",
        )
    )
    txs = list(Transaction.objects.order_by("seq").values_list("seq", "tenant__slug", "reference", "hash"))
    postings = list(
        Posting.objects.order_by("transaction__seq", "id").values_list(
            "transaction__seq", "account__code", "amount", "original_amount", "original_currency"
        )
    )
    alerts = list(Alert.objects.order_by("tenant__slug").values_list("tenant__slug", "kind", "message"))
    return [invoices, lines, txs, postings, alerts]


def test_a_batch_writes_exactly_what_closing_one_by_one_writes():
    # given tenants in EUR and in USD (FX), on distinct profiles, one blocked
    tenants = _three_tenants()
    usd = world(
        slug="delta",
        currency="USD",
        prices=[{"sku": "calls_delta", "model": "per_unit", "unit_amount": "0.10"}],
    )
    usage(usd.tenant, "calls_delta", usd.version, NOV_5, "300")
    fx_rate(datetime(2026, 11, 30).date(), "EUR", "USD", "1.25")
    tenants.append(usd.tenant)
    now = after_grace()

    # when closed one by one (then rolled back), and in one batch
    with transaction.atomic():
        for tenant in tenants:
            close_period(tenant=tenant, period_key="2026-11", now=now)
        one_by_one = _snapshot()
        transaction.set_rollback(True)
    assert not Invoice.objects.exists()
    close_periods(tenants=tenants, period_key="2026-11", now=now)

    # then the invoices, lines, numbers, ledger transactions (hashes included) and postings are the same
    assert _snapshot() == one_by_one
    assert one_by_one[2][-1][:3] == (3, "delta", "DELTA-2026-000001")
    assert ledger_verify().message == "OK 3"


def test_a_tenant_that_fails_is_reported_and_the_rest_of_its_batch_is_closed(monkeypatch):
    # given a tenant whose invoice computation fails on both paths
    tenants = _three_tenants()
    real = invoice_compute

    def failing(**kwargs: Any) -> Any:
        if kwargs["tenant"].slug == "gamma":
            raise ValidationFailed("gamma cannot be priced")
        return real(**kwargs)

    monkeypatch.setattr(close_finalize, "invoice_compute", failing)

    # when the batch is closed
    results = close_periods(tenants=tenants, period_key="2026-11", now=after_grace())

    # then the batch fell back to one transaction per tenant: gamma failed alone
    assert [(r.tenant_slug, r.status) for r in results] == [
        ("alpha", "finalized"),
        ("beta", "blocked"),
        ("gamma", "error"),
    ]
    assert results[2].message == "gamma cannot be priced"
    assert list(Invoice.objects.order_by("tenant__slug").values_list("tenant__slug", "status")) == [
        ("alpha", "finalized"),
        ("beta", "blocked"),
    ]
    assert ledger_verify().message == "OK 1"


def test_a_chunk_size_splits_the_tenants_into_transactions_with_a_gapless_chain():
    tenants = _three_tenants()

    results = close_periods(tenants=tenants, period_key="2026-11", now=after_grace(), chunk_size=1)

    assert [r.status for r in results] == ["finalized", "blocked", "finalized"]
    assert list(Transaction.objects.order_by("seq").values_list("seq", "reference")) == [
        (1, "ALPHA-2026-000001"),
        (2, "GAMMA-2026-000001"),
    ]
    assert ledger_verify().message == "OK 2"


def test_a_period_key_that_does_not_parse_is_an_error_per_tenant_not_an_exception():
    tenants = _three_tenants()

    results = close_periods(tenants=tenants, period_key="2026-13", now=after_grace())

    assert [r.status for r in results] == ["error", "error", "error"]
    assert results[0].message == "period '2026-13' does not match the monthly cycle"
    assert not Invoice.objects.exists()
