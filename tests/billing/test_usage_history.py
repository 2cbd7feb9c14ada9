"""Usage and cost per local day (billing.rating.history), figures worked by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from billing.catalog.models import Meter
from billing.rating.history import usage_history
from billing.rating.models import UsageAggregate, UsageAggregateValue
from tests.factories.ledger import usage, world

pytestmark = pytest.mark.django_db

GRADUATED = [
    {
        "sku": "api_calls",
        "model": "graduated",
        "tiers": [{"up_to": 100, "unit_amount": "0"}, {"up_to": None, "unit_amount": "0.01"}],
    }
]


def _at(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_it_groups_hours_by_the_local_day_across_the_dst_change_in_berlin():
    # 25 October 2026: Berlin leaves summer time; that local day runs 22:00 UTC (24th) to 23:00 UTC (25th)
    w = world(slug="berlin", tz="Europe/Berlin")
    usage(w.tenant, "api_calls", w.version, _at(2026, 10, 24, 21, 30), "10")  # 24th, 23:30 local
    usage(w.tenant, "api_calls", w.version, _at(2026, 10, 24, 22, 30), "20")  # 25th, 00:30 CEST
    usage(w.tenant, "api_calls", w.version, _at(2026, 10, 25, 22, 30), "30")  # 25th, 23:30 CET
    usage(w.tenant, "api_calls", w.version, _at(2026, 10, 25, 23, 30), "40")  # 26th, 00:30 CET

    history = usage_history(tenant=w.tenant, first_day=date(2026, 10, 24), last_day=date(2026, 10, 26))

    (meter,) = history.meters
    assert meter.days == [
        (date(2026, 10, 24), Decimal("10")),
        (date(2026, 10, 25), Decimal("50")),
        (date(2026, 10, 26), Decimal("40")),
    ]
    # 0.10 per call
    assert history.cost == [
        (date(2026, 10, 24), Decimal("1.00")),
        (date(2026, 10, 25), Decimal("5.00")),
        (date(2026, 10, 26), Decimal("4.00")),
    ]


def test_it_groups_hours_by_the_local_day_in_tokyo():
    # Tokyo is UTC+9 all year: the local 10 November starts at 15:00 UTC on the 9th
    w = world(
        slug="tokyo",
        tz="Asia/Tokyo",
        currency="JPY",
        prices=[{"sku": "api_calls", "model": "per_unit", "unit_amount": "2"}],
    )
    usage(w.tenant, "api_calls", w.version, _at(2026, 11, 9, 14, 30), "7")  # 9th, 23:30 local
    usage(w.tenant, "api_calls", w.version, _at(2026, 11, 9, 15, 30), "5")  # 10th, 00:30 local

    history = usage_history(tenant=w.tenant, first_day=date(2026, 11, 9), last_day=date(2026, 11, 10))

    assert history.meters[0].days == [(date(2026, 11, 9), Decimal("7")), (date(2026, 11, 10), Decimal("5"))]
    assert history.cost == [(date(2026, 11, 9), Decimal("14")), (date(2026, 11, 10), Decimal("10"))]
    assert history.currency == "JPY"


def test_it_fills_days_without_usage_with_zero():
    w = world(slug="gaps")
    usage(w.tenant, "api_calls", w.version, _at(2026, 11, 2, 9), "3")

    history = usage_history(tenant=w.tenant, first_day=date(2026, 11, 1), last_day=date(2026, 11, 3))

    assert history.meters[0].days == [
        (date(2026, 11, 1), Decimal("0")),
        (date(2026, 11, 2), Decimal("3")),
        (date(2026, 11, 3), Decimal("0")),
    ]
    assert [c for _d, c in history.cost] == [Decimal("0"), Decimal("0.30"), Decimal("0")]


def test_it_prices_each_day_at_the_margin_of_the_tiers():
    # 100 free, then 0.01: day 1 (80) stays in the free tier, day 2 (50) has 30 above it
    w = world(slug="tiers", prices=GRADUATED)
    usage(w.tenant, "api_calls", w.version, _at(2026, 11, 1, 9), "80")
    usage(w.tenant, "api_calls", w.version, _at(2026, 11, 2, 9), "50")

    history = usage_history(tenant=w.tenant, first_day=date(2026, 11, 1), last_day=date(2026, 11, 2))

    assert [c for _d, c in history.cost] == [Decimal("0"), Decimal("0.30")]


def test_it_carries_the_usage_before_the_range_into_the_tiers():
    w = world(slug="carry", prices=GRADUATED)
    usage(w.tenant, "api_calls", w.version, _at(2026, 11, 1, 9), "100")
    usage(w.tenant, "api_calls", w.version, _at(2026, 11, 2, 9), "50")

    history = usage_history(tenant=w.tenant, first_day=date(2026, 11, 2), last_day=date(2026, 11, 2))

    assert history.cost == [(date(2026, 11, 2), Decimal("0.50"))]


def test_it_starts_the_tiers_again_in_a_new_billing_period():
    w = world(slug="periods", prices=GRADUATED)
    usage(w.tenant, "api_calls", w.version, _at(2026, 10, 31, 9), "80")
    usage(w.tenant, "api_calls", w.version, _at(2026, 11, 1, 9), "80")

    history = usage_history(tenant=w.tenant, first_day=date(2026, 10, 31), last_day=date(2026, 11, 1))

    assert [c for _d, c in history.cost] == [Decimal("0"), Decimal("0")]


def test_it_prices_a_maximum_meter_by_its_running_maximum():
    w = world(slug="peak", prices=[{"sku": "api_calls", "model": "per_unit", "unit_amount": "1"}])
    Meter.objects.filter(code="m-api_calls").update(aggregation=Meter.Aggregation.MAX)
    usage(w.tenant, "api_calls", w.version, _at(2026, 11, 1, 9), "5")
    usage(w.tenant, "api_calls", w.version, _at(2026, 11, 2, 9), "3")
    usage(w.tenant, "api_calls", w.version, _at(2026, 11, 3, 9), "8")

    history = usage_history(tenant=w.tenant, first_day=date(2026, 11, 1), last_day=date(2026, 11, 3))

    assert [q for _d, q in history.meters[0].days] == [Decimal("5"), Decimal("3"), Decimal("8")]
    # the period's level: 5, still 5, then 8
    assert [c for _d, c in history.cost] == [Decimal("5"), Decimal("0"), Decimal("3")]


def test_it_never_includes_another_tenants_usage():
    mine = world(slug="mine")
    other = world(slug="other")
    usage(mine.tenant, "api_calls", mine.version, _at(2026, 11, 1, 9), "1")
    usage(other.tenant, "api_calls", other.version, _at(2026, 11, 1, 9), "1000")

    history = usage_history(tenant=mine.tenant, first_day=date(2026, 11, 1), last_day=date(2026, 11, 1))

    assert history.meters[0].days == [(date(2026, 11, 1), Decimal("1"))]
    assert history.cost == [(date(2026, 11, 1), Decimal("0.10"))]


def test_it_is_empty_without_usage():
    w = world(slug="quiet")

    history = usage_history(tenant=w.tenant, first_day=date(2026, 11, 1), last_day=date(2026, 11, 2))

    assert history.meters == []
    assert history.cost == [(date(2026, 11, 1), Decimal("0")), (date(2026, 11, 2), Decimal("0"))]


def test_it_counts_a_unique_meter_distinct_per_day_and_since_the_period_began():
    w = world(slug="uniq", prices=[{"sku": "api_calls", "model": "per_unit", "unit_amount": "1"}])
    Meter.objects.filter(code="m-api_calls").update(
        aggregation=Meter.Aggregation.UNIQUE_COUNT, unique_tag="user"
    )
    hours = {
        _at(2026, 11, 2, 9): ["a", "b"],
        _at(2026, 11, 2, 14): ["b", "c"],  # same local day, another hour: b counts once
        _at(2026, 11, 3, 9): ["a", "d"],  # a seen on the 2nd: only d is new in the period
        _at(2026, 12, 1, 9): ["a"],  # a new period: a counts again
    }
    for at, values in hours.items():
        usage(w.tenant, "api_calls", w.version, at, str(len(values)))
        aggregate = UsageAggregate.objects.get(tenant=w.tenant, hour=at)
        UsageAggregateValue.objects.bulk_create(
            UsageAggregateValue(aggregate=aggregate, value=v) for v in values
        )

    history = usage_history(tenant=w.tenant, first_day=date(2026, 11, 2), last_day=date(2026, 12, 1))

    (meter,) = history.meters
    days = dict(meter.days)
    assert (days[date(2026, 11, 2)], days[date(2026, 11, 3)], days[date(2026, 12, 1)]) == (
        Decimal(3),
        Decimal(2),
        Decimal(1),
    )
    cost = dict(history.cost)
    # distinct users so far in the period at 1 each: 3 (a, b, c), then 4 (d); December starts again at 1
    assert (cost[date(2026, 11, 2)], cost[date(2026, 11, 3)], cost[date(2026, 12, 1)]) == (
        Decimal(3),
        Decimal(1),
        Decimal(1),
    )
