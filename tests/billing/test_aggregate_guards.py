"""PostgreSQL refuses unique_count values without their aggregate row, and aggregate changes that would
orphan them (statement-level triggers, billing/migrations/0013_reinstall_guards.sql), whatever writes
the SQL."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from billing.catalog.models import Meter
from billing.rating.models import UsageAggregate, UsageAggregateValue
from billing.rating.services import usage_rate_pending
from billing.usage.ingest import usage_ingest
from tests.factories.usage import event, usage_env, usage_world

__all__ = ["usage_env"]

pytestmark = [pytest.mark.usefixtures("usage_env")]

HOUR = datetime(2026, 11, 2, 10, tzinfo=UTC)


def rated_world():
    world = usage_world(
        sku_code="active_users", aggregation=Meter.Aggregation.UNIQUE_COUNT, unique_tag="user"
    )
    usage_ingest(
        tenant=world.tenant,
        events=[event("a", sku="active_users", timestamp="2026-11-02T10:05:00Z", tags={"user": "u1"})],
    )
    usage_rate_pending()
    return world


def test_rating_stores_the_value_and_counts_it():
    world = rated_world()
    aggregate = UsageAggregate.objects.get()
    assert (aggregate.tenant_id, aggregate.quantity) == (world.tenant.pk, Decimal(1))
    assert list(UsageAggregateValue.objects.values_list("aggregate_id", "value")) == [(aggregate.pk, "u1")]


def test_a_value_without_its_aggregate_row_is_refused():
    rated_world()
    with (
        pytest.raises(IntegrityError, match="without its usage aggregate row"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "INSERT INTO billing_usageaggregatevalue (aggregate_id, value) VALUES (%s, 'u2')",
            [UsageAggregate.objects.get().pk + 1],
        )


def test_an_aggregate_row_with_values_cannot_be_deleted():
    rated_world()
    with (
        pytest.raises(IntegrityError, match="cannot be deleted"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM billing_usageaggregate")


def test_an_aggregate_rows_key_cannot_change():
    rated_world()
    with (
        pytest.raises(IntegrityError, match="never changes"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE billing_usageaggregate SET hour = hour + interval '1 hour'")
    assert UsageAggregate.objects.get().hour == HOUR
