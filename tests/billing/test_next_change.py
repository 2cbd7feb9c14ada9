"""What changes next (billing.close.preview): the last closed period priced under the scheduled version."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.close.preview import next_change_preview
from billing.close.services import close_period
from tests.factories import BillingProfileFactory, ProfileAssignmentFactory
from tests.factories.ledger import after_grace, approved_version, document, tax_rule, usage, world

pytestmark = pytest.mark.django_db

NOV_10 = datetime(2026, 11, 10, 9, 30, tzinfo=UTC)
JAN_1_2027 = datetime(2027, 1, 1, tzinfo=UTC)
DEC_10 = datetime(2026, 12, 10, tzinfo=UTC)


def _closed_november():
    w = world(slug="acme")
    tax_rule("DE", "19")
    usage(w.tenant, "api_calls", w.version, NOV_10, "1000")
    close_period(tenant=w.tenant, period_key="2026-11", now=after_grace())
    return w


def _per_call(code: str, amount: str) -> dict[str, Any]:
    return document(code, prices=[{"sku": "api_calls", "model": "per_unit", "unit_amount": amount}])


def test_it_prices_the_last_closed_period_under_the_scheduled_version():
    w = _closed_november()
    approved_version(w.profile, _per_call(w.profile.code, "0.08"), JAN_1_2027, 2)

    change = next_change_preview(tenant=w.tenant, now=DEC_10)

    assert change is not None
    assert (change.effective_from, change.version_number, change.period_key) == (JAN_1_2027, 2, "2026-11")
    # 1,000 calls at 0.10 = 100.00 billed; at 0.08 = 80.00
    assert (change.billed_total, change.scheduled_total, change.difference) == (
        Decimal("100.00"),
        Decimal("80.00"),
        Decimal("-20.00"),
    )
    (line,) = change.lines
    assert (line.kind, line.key, line.billed, line.scheduled, line.difference) == (
        "usage",
        "api_calls",
        Decimal("100.00"),
        Decimal("80.00"),
        Decimal("-20.00"),
    )
    assert change.blocked == ""


def test_it_shows_a_flat_fee_the_scheduled_version_adds():
    w = _closed_november()
    body = document(
        w.profile.code,
        prices=[
            {"sku": "api_calls", "model": "per_unit", "unit_amount": "0.10"},
            {"sku": "platform_fee", "model": "flat", "amount": "25.00"},
        ],
    )
    approved_version(w.profile, body, JAN_1_2027, 2)

    change = next_change_preview(tenant=w.tenant, now=DEC_10)

    assert change is not None
    assert change.scheduled_total == Decimal("125.00")
    assert [(line.kind, line.key, line.billed, line.scheduled) for line in change.lines] == [
        ("usage", "api_calls", Decimal("100.00"), Decimal("100.00")),
        ("flat", "platform_fee", Decimal("0"), Decimal("25.00")),
    ]


def test_it_finds_a_future_assignment_to_another_profile():
    w = _closed_november()
    other = BillingProfileFactory.create(code="cheaper")
    approved_version(other, _per_call("cheaper", "0.05"), datetime(2026, 1, 1, tzinfo=UTC), 1)
    assignment = w.tenant.profile_assignments.get()
    assignment.effective_to = JAN_1_2027
    assignment.save()
    ProfileAssignmentFactory(tenant=w.tenant, profile=other, effective_from=JAN_1_2027)

    change = next_change_preview(tenant=w.tenant, now=DEC_10)

    assert change is not None
    assert (change.effective_from, change.profile_name, change.scheduled_total) == (
        JAN_1_2027,
        "Cheaper",
        Decimal("50.00"),
    )


def test_it_is_none_when_nothing_is_scheduled():
    w = _closed_november()

    assert next_change_preview(tenant=w.tenant, now=DEC_10) is None


def test_it_ignores_a_version_already_in_force():
    w = _closed_november()
    approved_version(w.profile, _per_call(w.profile.code, "0.08"), datetime(2026, 12, 1, tzinfo=UTC), 2)

    assert next_change_preview(tenant=w.tenant, now=DEC_10) is None


def test_it_names_the_change_without_a_closed_period():
    w = world(slug="fresh")
    approved_version(w.profile, _per_call(w.profile.code, "0.08"), JAN_1_2027, 2)

    change = next_change_preview(tenant=w.tenant, now=DEC_10)

    assert change is not None
    assert (change.invoice_id, change.lines, change.version_number) == (None, (), 2)


def test_it_writes_nothing():
    w = _closed_november()
    approved_version(w.profile, _per_call(w.profile.code, "0.08"), JAN_1_2027, 2)

    with CaptureQueriesContext(connection) as queries:
        next_change_preview(tenant=w.tenant, now=DEC_10)

    writes = [q["sql"] for q in queries if not q["sql"].lstrip().upper().startswith("SELECT")]
    assert writes == []


def test_the_cached_preview_is_computed_once_until_late_usage_or_a_new_version(monkeypatch, settings):
    from billing.close import preview

    # a cache of this test's own: the test database's ids repeat from one run to the next, Redis's keys stay
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "next-change"}
    }
    w = _closed_november()
    approved_version(w.profile, _per_call(w.profile.code, "0.08"), JAN_1_2027, 2)
    uncached = next_change_preview(tenant=w.tenant, now=DEC_10)
    calls: list[int] = []
    priced = preview._priced

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return priced(*args, **kwargs)

    monkeypatch.setattr(preview, "_priced", counted)

    first = preview.next_change_preview_cached(tenant=w.tenant, now=DEC_10)
    second = preview.next_change_preview_cached(tenant=w.tenant, now=DEC_10)

    assert len(calls) == 1
    assert first == second == uncached
    assert second is not None
    assert second.scheduled_total == Decimal("80.00")

    # late usage rated into the closed period: the period's aggregates change, so does the key
    usage(w.tenant, "api_calls", w.version, datetime(2026, 11, 20, 9, tzinfo=UTC), "500", late=True)
    late = preview.next_change_preview_cached(tenant=w.tenant, now=DEC_10)
    assert len(calls) == 2
    assert late is not None
    assert late.scheduled_total == Decimal("120.00")  # 1,500 calls at 0.08

    # another version scheduled earlier: the scheduled version changes, so does the key
    approved_version(w.profile, _per_call(w.profile.code, "0.05"), datetime(2026, 12, 20, tzinfo=UTC), 3)
    newer = preview.next_change_preview_cached(tenant=w.tenant, now=DEC_10)
    assert len(calls) == 3
    assert newer is not None
    assert (newer.version_number, newer.scheduled_total) == (3, Decimal("75.00"))
    preview.next_change_preview_cached(tenant=w.tenant, now=DEC_10)
    assert len(calls) == 3
