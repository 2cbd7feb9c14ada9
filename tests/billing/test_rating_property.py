"""Property: for random event sets (duplicates, conflicts, out-of-order timestamps, a profile version change
mid-period, any batch size), the aggregates equal a recomputation from the stored raw events, and every
event is rated by the version in force at its timestamp (checked against the query-per-event resolver)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.catalog.models import Meter
from billing.profiles.selectors import resolve_version
from billing.rating.models import TenantUsageEstimate, UsageAggregate
from billing.rating.services import usage_rate_pending
from billing.usage.ingest import usage_ingest
from billing.usage.models import RatingBatch, UsageEvent
from tests.factories import ApprovedVersionFactory, profile_document
from tests.factories.usage import sku_with_meter, usage_env, usage_world

__all__ = ["usage_env"]

pytestmark = pytest.mark.usefixtures("usage_env")

START = datetime(2026, 11, 1, tzinfo=UTC)
PRICES = [
    {"sku": "api_calls", "model": "per_unit", "unit_amount": "0.10"},
    {"sku": "gauge", "model": "per_unit", "unit_amount": "1"},
]

raw_event = st.tuples(
    st.integers(0, 12),  # event id: a small pool makes duplicates and conflicts
    st.sampled_from(["api_calls", "gauge"]),
    st.integers(0, 13 * 24 - 1),  # hour since Nov 1 (the version changes on Nov 8)
    st.integers(0, 59),
    st.decimals(min_value=0, max_value=1000, places=3, allow_nan=False, allow_infinity=False),
)


@pytest.fixture
def world(db):
    sku_with_meter("gauge", aggregation=Meter.Aggregation.MAX)
    world = usage_world(prices=PRICES)
    body = profile_document(world.version.profile.code)
    body["prices"] = [{**p, "unit_amount": "0.5"} for p in PRICES]
    ApprovedVersionFactory.create(
        profile=world.version.profile, body=body, effective_from=datetime(2026, 11, 8, tzinfo=UTC)
    )
    return world


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    events=st.lists(raw_event, min_size=1, max_size=40), chunk=st.integers(1, 15), batch=st.integers(1, 12)
)
def test_aggregates_equal_a_recomputation_from_raw_events(world, events, chunk, batch):
    with transaction.atomic():
        payload = [
            {
                "event_id": f"e{i}",
                "sku": sku,
                "quantity": str(q),
                "timestamp": (START + timedelta(hours=h, minutes=m)).isoformat(),
            }
            for i, sku, h, m, q in events
        ]
        for start in range(0, len(payload), chunk):
            usage_ingest(tenant=world.tenant, events=payload[start : start + chunk])
        usage_rate_pending(batch_size=batch)

        # what was stored: the first occurrence of each event_id
        first: dict[str, dict[str, str]] = {}
        for item in payload:
            first.setdefault(item["event_id"], item)
        stored = list(UsageEvent.objects.all())
        assert sorted(e.event_id for e in stored) == sorted(first)
        assert set(RatingBatch.objects.values_list("status", flat=True)) == {"rated"}

        # each event belongs in the bucket of the version in force at its timestamp
        version_of: dict[int, int] = {}
        expected: dict[tuple[Any, datetime, Any], list[UsageEvent]] = defaultdict(list)
        for e in stored:
            in_force = resolve_version(tenant=world.tenant, sku=e.sku_code, at=e.timestamp)
            assert in_force is not None
            version_of[e.pk] = in_force.pk
            assert e.quantity == Decimal(first[e.event_id]["quantity"])
            expected[(e.sku_id, e.timestamp.replace(minute=0), in_force.pk)].append(e)

        actual = {
            (a.sku_id, a.hour, a.profile_version_id): a
            for a in UsageAggregate.objects.select_related("sku__meter")
        }
        assert set(actual) == set(expected)
        for key, rows in expected.items():
            aggregate = actual[key]
            quantities = [r.quantity for r in rows]
            want = max(quantities) if aggregate.sku.meter.aggregation == "max" else sum(quantities)
            assert aggregate.quantity == want
            assert aggregate.event_count == len(rows)
            assert aggregate.first_event_at == min(r.timestamp for r in rows)
            assert aggregate.last_event_at == max(r.timestamp for r in rows)

        # the running estimate prices each version's usage with that version's price
        unit = {world.version.pk: {"api_calls": Decimal("0.10"), "gauge": Decimal("1")}}
        unit.update(
            {
                v: {"api_calls": Decimal("0.5"), "gauge": Decimal("0.5")}
                for v in set(version_of.values()) - {world.version.pk}
            }
        )
        want_amount: dict[str, Decimal] = defaultdict(Decimal)
        for sku_code in ("api_calls", "gauge"):
            for version_id in set(version_of.values()):
                quantities = [
                    e.quantity for e in stored if e.sku_code == sku_code and version_of[e.pk] == version_id
                ]
                if quantities:
                    total = max(quantities) if sku_code == "gauge" else sum(quantities)
                    want_amount[sku_code] += total * unit[version_id][sku_code]
        estimates = {e.sku.code: e.amount for e in TenantUsageEstimate.objects.select_related("sku")}
        assert estimates == dict(want_amount)
        transaction.set_rollback(True)
