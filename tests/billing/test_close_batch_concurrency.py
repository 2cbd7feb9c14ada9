"""Batch closes running at the same time as other closes and as rating (PostgreSQL row locks)."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from billing.catalog.models import Sku
from billing.close import finalize as close_finalize
from billing.close.services import close_period, close_periods
from billing.rating import selectors as usage_selectors
from billing.usage.models import UsageEvent
from ledger.models import Invoice, Transaction
from ledger.verify import ledger_verify
from tenants.models import Tenant
from tests.factories.ledger import after_grace, tax_rule, usage, world
from tests.factories.usage import stored_pending_event
from tests.threads import in_thread, rating_waits_for, run_together

pytestmark = [pytest.mark.django_db(transaction=True)]

NOV_5 = datetime(2026, 11, 5, tzinfo=UTC)


def _tenants(n: int) -> list[Tenant]:
    tax_rule("DE", "19")
    tenants = []
    for i in range(n):
        code = f"calls_{i}"
        w = world(slug=f"t{i}", prices=[{"sku": code, "model": "per_unit", "unit_amount": "0.10"}])
        usage(w.tenant, code, w.version, NOV_5, "10")
        tenants.append(w.tenant)
    return tenants


def test_overlapping_batches_and_single_closes_make_one_invoice_per_tenant():
    # given four tenants
    tenants = _tenants(4)
    now = after_grace()

    # when two batches (in opposite orders) and two single closes run at once
    results, errors = run_together(
        [
            lambda: close_periods(tenants=tenants, period_key="2026-11", now=now),
            lambda: close_periods(tenants=tenants[::-1], period_key="2026-11", now=now),
            lambda: [close_period(tenant=tenants[0], period_key="2026-11", now=now)],
            lambda: [close_period(tenant=tenants[3], period_key="2026-11", now=now)],
        ]
    )

    # then every tenant has exactly one invoice and one ledger transaction, the chain is gapless
    assert errors == []
    finalized = Counter(r.tenant_slug for batch in results for r in batch if r.status == "finalized")
    assert finalized == {"t0": 1, "t1": 1, "t2": 1, "t3": 1}
    assert Invoice.objects.count() == 4
    assert list(Invoice.objects.order_by("number").values_list("number", flat=True)) == [
        "T0-2026-000001",
        "T1-2026-000001",
        "T2-2026-000001",
        "T3-2026-000001",
    ]
    assert sorted(Transaction.objects.values_list("seq", flat=True)) == [1, 2, 3, 4]
    assert ledger_verify().message == "OK 4"


def test_rating_waits_for_a_batch_close_in_flight_which_blocks_the_tenant_with_unrated_usage(monkeypatch):
    # given two tenants with usage, and a pending November event of the first one
    tenants = _tenants(2)
    w0 = tenants[0]
    stored_pending_event(
        w0,
        Sku.objects.get(code="calls_0"),
        "late-1",
        timestamp=datetime(2026, 11, 20, tzinfo=UTC),
        quantity=Decimal(7),
        received_at=datetime(2026, 12, 5, tzinfo=UTC),
    )
    # the batch pauses right after it has locked the tenants and read their usage
    read_usage, release = threading.Event(), threading.Event()
    real_read = usage_selectors.period_usage_rows_many

    def paused_read(**kwargs: Any) -> Any:
        rows = real_read(**kwargs)
        read_usage.set()
        release.wait(timeout=10)
        return rows

    monkeypatch.setattr(close_finalize, "period_usage_rows_many", paused_read)
    outcome: list[Any] = []

    def close() -> None:
        outcome.extend(close_periods(tenants=tenants, period_key="2026-11", now=after_grace()))

    # when rating starts while the batch holds the tenants
    blocked_while_closing = rating_waits_for(in_thread(close), read_usage, release)

    # then rating waited for the close; the close did not invoice the first tenant without its unrated
    # event: it blocked it (usage_pending) and finalized the other
    assert blocked_while_closing
    assert [(r.status, r.message.split(":")[0]) for r in outcome] == [
        ("blocked", "usage_pending"),
        ("finalized", ""),
    ]
    assert not Invoice.objects.filter(tenant=w0).exists()
    assert UsageEvent.objects.get(event_id="late-1").late is False  # rated on time, once rating ran

    # and once rated, the next close invoices all of it: 17 x 0.10
    (again,) = close_periods(tenants=[w0], period_key="2026-11", now=after_grace())
    assert again.status == "finalized"
    assert Invoice.objects.get(tenant=w0).subtotal == Decimal("1.70")
