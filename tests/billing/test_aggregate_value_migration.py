"""Migration 0011 rebuilds the unique_count value table keyed by aggregate row: every value moves to its
aggregate row, and the reverse puts them back under their (tenant, sku, version, hour) key."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.conf import settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("billing", "0010_rating_batch_tenant")]
AFTER = [("billing", "0011_aggregate_value_by_aggregate")]
HOUR = datetime(2026, 11, 2, 10, tzinfo=UTC)


def _migrate(target):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target)
    return executor.loader.project_state(target).apps


def _world(apps):
    tenant = apps.get_model("tenants", "Tenant").objects.create(
        slug="acme", name="Acme", country="DE", tax_jurisdiction="DE", currency="EUR"
    )
    meter = apps.get_model("billing", "Meter").objects.create(
        code="u", name="u", unit="user", aggregation="unique_count", unique_tag="user"
    )
    sku = apps.get_model("billing", "Sku").objects.create(
        code="active_users", name="Active users", meter=meter, unit_label="user"
    )
    author = apps.get_model(settings.AUTH_USER_MODEL).objects.create(username="author")
    profile = apps.get_model("billing", "BillingProfile").objects.create(code="p", name="p")
    version = apps.get_model("billing", "ProfileVersion").objects.create(
        profile=profile, number=1, body={}, body_sha256="0" * 64, effective_from=HOUR, author=author
    )
    return tenant, sku, version


@pytest.mark.django_db(transaction=True)
def test_values_move_to_their_aggregate_rows_and_back():
    old = _migrate(BEFORE)
    tenant, sku, version = _world(old)
    Aggregate = old.get_model("billing", "UsageAggregate")
    Value = old.get_model("billing", "UsageAggregateValue")
    for hour, values in ((HOUR, ["u1", "u2"]), (HOUR.replace(hour=11), ["u1"])):
        Aggregate.objects.create(
            tenant=tenant, sku=sku, hour=hour, profile_version=version, quantity=len(values), event_count=2,
            first_event_at=hour, last_event_at=hour, updated_at=hour,
        )  # fmt: skip
        for value in values:
            Value.objects.create(tenant=tenant, sku=sku, hour=hour, profile_version=version, value=value)

    new = _migrate(AFTER)
    ids = dict(new.get_model("billing", "UsageAggregate").objects.values_list("hour", "id"))
    moved = set(new.get_model("billing", "UsageAggregateValue").objects.values_list("aggregate_id", "value"))
    assert moved == {(ids[HOUR], "u1"), (ids[HOUR], "u2"), (ids[HOUR.replace(hour=11)], "u1")}

    back = _migrate(BEFORE)
    restored = set(back.get_model("billing", "UsageAggregateValue").objects.values_list("hour", "value"))
    assert restored == {(HOUR, "u1"), (HOUR, "u2"), (HOUR.replace(hour=11), "u1")}
    _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
