"""The usage history keeps a closed period's part in the cache, and late usage rated into that period
changes it (billing.rating.history_cache)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.core.cache import cache

from billing.close.services import close_period
from billing.rating import history
from billing.rating.history import usage_history
from tests.factories.ledger import after_grace, invoice_of, tax_rule, usage, world

# a cache of the test's own (tests/conftest.py local_cache): the suite's Redis cache is shared by
# parallel test processes, and another's clear between two calls would look like a miss here
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("local_cache")]

PER_UNIT = [{"sku": "api_calls", "model": "per_unit", "unit_amount": "0.10"}]
OCT_5 = datetime(2026, 10, 5, 12, tzinfo=UTC)
OCT_30 = datetime(2026, 10, 30, 12, tzinfo=UTC)
NOV_3 = datetime(2026, 11, 3, 12, tzinfo=UTC)


@pytest.fixture
def closed_october() -> Any:
    w = world(prices=PER_UNIT)
    tax_rule("DE", "19")
    usage(w.tenant, "api_calls", w.version, OCT_5, "40")
    assert invoice_of(close_period(tenant=w.tenant, period_key="2026-10", now=after_grace("2026-10"))).total
    usage(w.tenant, "api_calls", w.version, NOV_3, "5")
    return w


def _computed(monkeypatch: Any) -> list[date]:
    """The first day of every period the history computes (instead of taking it from the cache)."""
    seen: list[date] = []
    real = history.period_part

    def counting(period: Any, **kwargs: Any) -> Any:
        seen.append(period.start.date())
        return real(period, **kwargs)

    monkeypatch.setattr(history, "period_part", counting)
    return seen


def test_it_computes_each_period_once_until_its_usage_changes(closed_october, monkeypatch):
    computed = _computed(monkeypatch)
    w = closed_october

    first = usage_history(tenant=w.tenant, first_day=date(2026, 10, 1), last_day=date(2026, 11, 30))
    again = usage_history(tenant=w.tenant, first_day=date(2026, 10, 1), last_day=date(2026, 11, 30))

    assert computed == [date(2026, 10, 1), date(2026, 11, 1)]
    assert again == first
    assert dict(first.cost)[date(2026, 10, 5)] == Decimal("4.00")
    assert dict(first.cost)[date(2026, 11, 3)] == Decimal("0.50")


def test_usage_rated_into_the_open_period_shows_at_once(closed_october, monkeypatch):
    w = closed_october
    usage_history(tenant=w.tenant, first_day=date(2026, 10, 1), last_day=date(2026, 11, 30))
    computed = _computed(monkeypatch)

    usage(w.tenant, "api_calls", w.version, NOV_3, "7")  # the same hour's aggregate grows
    after = usage_history(tenant=w.tenant, first_day=date(2026, 10, 1), last_day=date(2026, 11, 30))

    assert computed == [date(2026, 11, 1)]
    assert dict(after.cost)[date(2026, 11, 3)] == Decimal("1.20")


def test_late_usage_rated_into_a_closed_period_shows_at_once(closed_october, monkeypatch):
    w = closed_october
    before = usage_history(tenant=w.tenant, first_day=date(2026, 10, 1), last_day=date(2026, 10, 31))
    computed = _computed(monkeypatch)

    usage(w.tenant, "api_calls", w.version, OCT_30, "30", late=True)
    after = usage_history(tenant=w.tenant, first_day=date(2026, 10, 1), last_day=date(2026, 10, 31))

    assert computed == [date(2026, 10, 1)]
    assert dict(before.cost)[date(2026, 10, 30)] == Decimal("0")
    assert dict(after.cost)[date(2026, 10, 30)] == Decimal("3.00")
    assert dict(after.meters[0].days)[date(2026, 10, 30)] == Decimal("30")


def test_a_part_from_the_cache_equals_the_part_computed_afresh(closed_october):
    w = closed_october
    usage_history(tenant=w.tenant, first_day=date(2026, 10, 1), last_day=date(2026, 10, 31))  # fills it

    cached = usage_history(tenant=w.tenant, first_day=date(2026, 10, 3), last_day=date(2026, 10, 6))
    cache.clear()
    fresh = usage_history(tenant=w.tenant, first_day=date(2026, 10, 3), last_day=date(2026, 10, 6))

    assert cached == fresh
    assert cached.cost == [
        (date(2026, 10, 3), Decimal("0")),
        (date(2026, 10, 4), Decimal("0")),
        (date(2026, 10, 5), Decimal("4.00")),
        (date(2026, 10, 6), Decimal("0")),
    ]
