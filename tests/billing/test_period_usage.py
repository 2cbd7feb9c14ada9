"""period_usage: the per (SKU, version) quantities that invoices and estimates price."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from billing.rating.selectors import period_usage
from tests.factories.ledger import usage, world

pytestmark = pytest.mark.django_db

NOV = datetime(2026, 11, 1, tzinfo=UTC)
DEC = datetime(2026, 12, 1, tzinfo=UTC)


def test_period_totals_are_exact_decimals_on_every_engine():
    # given hourly aggregates whose binary-float sum is not exact (0.1 + 0.2 + ... in floats)
    w = world()
    for hour, quantity in enumerate(["0.1", "0.2", "8321.76", "37.89", "0.000000000001"]):
        usage(w.tenant, "api_calls", w.version, NOV + timedelta(hours=hour), quantity)

    # when
    (line,) = period_usage(tenant_id=w.tenant.pk, start=NOV, end=DEC)

    # then
    assert line.quantity == Decimal("8359.950000000001")
    assert line.event_count == 5


def test_usage_outside_the_range_is_not_counted():
    w = world()
    usage(w.tenant, "api_calls", w.version, NOV - timedelta(hours=1), "5")
    usage(w.tenant, "api_calls", w.version, NOV, "7")
    usage(w.tenant, "api_calls", w.version, DEC, "11")

    (line,) = period_usage(tenant_id=w.tenant.pk, start=NOV, end=DEC)

    assert line.quantity == Decimal("7")
