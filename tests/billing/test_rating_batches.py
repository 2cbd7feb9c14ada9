"""Rating progress is recorded per batch: concurrent raters skip each other's batches, and events stored
before rating batches existed are carried into batches by the migration."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from billing.rating.models import UsageAggregate
from billing.rating.services import usage_rate_batch
from billing.usage.models import RatingBatch
from tests.factories.usage import stored_pending_event, usage_env, usage_world
from tests.threads import claim_held_by_another_rater

__all__ = ["usage_env"]


@pytest.mark.django_db(transaction=True)
def test_a_second_rater_skips_the_batch_another_rater_holds(usage_env):
    world = usage_world()  # two stored platform-key batches (no nudge: nothing rates them behind our back)
    for event_id, quantity, hour in (("a", 1, 10), ("b", 10, 11)):
        stored_pending_event(
            world.tenant,
            world.sku,
            event_id,
            timestamp=datetime(2026, 11, 2, hour, tzinfo=UTC),
            quantity=Decimal(quantity),
            platform=True,
        )
    first, second = RatingBatch.objects.order_by("pk")
    with claim_held_by_another_rater(1) as claimed_by_other:
        result = usage_rate_batch(limit=1)
    assert claimed_by_other == [first.pk]
    assert (result.batches, result.claimed) == (1, 1)
    assert list(RatingBatch.objects.order_by("pk").values_list("status", flat=True)) == ["pending", "rated"]
    assert UsageAggregate.objects.get().quantity == Decimal("10")  # b only
    assert second.pk != first.pk


@pytest.mark.django_db(transaction=True)
def test_a_second_rater_leaves_a_tenant_another_rater_works_on_and_takes_the_next(usage_env):
    acme, globex = usage_world(slug="acme"), usage_world(slug="globex")
    day = datetime(2026, 11, 2, tzinfo=UTC)
    acme_1 = stored_pending_event(acme.tenant, acme.sku, "a1", timestamp=day, quantity=Decimal(1))
    acme_2 = stored_pending_event(acme.tenant, acme.sku, "a2", timestamp=day, quantity=Decimal(2))
    stored_pending_event(globex.tenant, globex.sku, "g1", timestamp=day, quantity=Decimal(5))
    with claim_held_by_another_rater(1) as claimed_by_other:  # acme's first batch and acme's rating lock
        result = usage_rate_batch(limit=10)  # acme's second batch is older than globex's, yet left alone
    assert claimed_by_other == [acme_1.rating_batch_id]
    assert (result.batches, result.claimed, result.tenant_ids) == (1, 1, {globex.tenant.pk})
    assert RatingBatch.objects.get(pk=acme_2.rating_batch_id or 0).status == "pending"
    assert list(UsageAggregate.objects.values_list("tenant_id", "quantity")) == [
        (globex.tenant.pk, Decimal(5))
    ]


@pytest.mark.django_db(transaction=True)
def test_the_migration_puts_pending_and_rated_events_into_batches():
    executor = MigrationExecutor(connection)
    executor.migrate([("billing", "0005_usage_event_index_budget")])
    old = executor.loader.project_state([("billing", "0005_usage_event_index_budget")]).apps
    Tenant = old.get_model("tenants", "Tenant")
    Meter = old.get_model("billing", "Meter")
    Sku = old.get_model("billing", "Sku")
    Event = old.get_model("billing", "UsageEvent")
    tenant = Tenant.objects.create(
        slug="acme", name="Acme", country="DE", tax_jurisdiction="DE", currency="EUR"
    )
    meter = Meter.objects.create(code="m", name="m", unit="call", aggregation="sum")
    sku = Sku.objects.create(code="api_calls", name="API calls", meter=meter, unit_label="call")
    author = old.get_model(settings.AUTH_USER_MODEL).objects.create(username="author")
    profile = old.get_model("billing", "BillingProfile").objects.create(code="p", name="p")
    version = old.get_model("billing", "ProfileVersion").objects.create(
        profile=profile, number=1, body={}, body_sha256="0" * 64, effective_from=datetime(2026, 1, 1, tzinfo=UTC),
        author=author,
    )  # fmt: skip
    base = datetime(2026, 11, 2, tzinfo=UTC)

    def stored(event_id: str, status: str, minutes: int, **extra: object) -> None:
        at = base + timedelta(minutes=minutes)
        Event.objects.create(
            tenant=tenant, event_id=event_id, sku=sku if status != "quarantined" else None,
            sku_code="api_calls", timestamp=at, quantity=1, payload_sha256="0" * 64, status=status,
            received_at=at, **extra,
        )  # fmt: skip

    stored("r1", "rated", 0, rated_at=base + timedelta(hours=1), profile_version=version)
    stored("p1", "pending", 5)
    stored("r2", "rated", 10, rated_at=base + timedelta(hours=2), profile_version=version)
    stored("p2", "pending", 15)
    stored("q1", "quarantined", 20, quarantine_reason="unknown_sku")

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    from billing.usage.models import UsageEvent

    rows = {e.event_id: e for e in UsageEvent.objects.all()}
    rated = RatingBatch.objects.get(status="rated")
    pending = RatingBatch.objects.get(status="pending")
    assert (rated.event_count, rated.rated_at, rated.source, rated.tenant_ids) == (
        2,
        base + timedelta(hours=2),
        "migration",
        [tenant.pk],
    )
    assert (rated.first_event_id, rated.last_event_id) == (rows["r1"].pk, rows["r2"].pk)
    assert (pending.event_count, pending.earliest_event_at, pending.latest_event_at) == (
        2,
        base + timedelta(minutes=5),
        base + timedelta(minutes=15),
    )
    assert {k: (e.status, e.rating_batch_id) for k, e in rows.items()} == {
        "r1": ("accepted", rated.pk),
        "r2": ("accepted", rated.pk),
        "p1": ("accepted", pending.pk),
        "p2": ("accepted", pending.pk),
        "q1": ("quarantined", None),
    }


def _queries_to_rate(world, batches: int) -> int:
    from django.test.utils import CaptureQueriesContext

    for i in range(batches):
        stored_pending_event(
            world.tenant,
            world.sku,
            f"{world.tenant.slug}-{i}",
            timestamp=datetime(2026, 11, 2, 10, tzinfo=UTC) + timedelta(minutes=i),
            quantity=Decimal(1),
        )
    with CaptureQueriesContext(connection) as queries:
        result = usage_rate_batch()
    assert result.batches == batches
    return len(queries.captured_queries)


@pytest.mark.django_db
def test_rating_many_batches_costs_no_query_per_batch(usage_env):
    few = _queries_to_rate(usage_world(slug="few"), 3)
    many = _queries_to_rate(usage_world(slug="many"), 30)
    assert many == few
