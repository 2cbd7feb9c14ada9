"""Rating: aggregates per (tenant, SKU, hour, version), the version in force, atomicity, late events,
running estimates, the sweeper and the summary endpoint."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.test import override_settings

from billing.catalog.models import Meter
from billing.rating.models import BillingPeriod, TenantUsageEstimate, UsageAggregate
from billing.rating.selectors import period_usage
from billing.rating.services import Rater, usage_rate_batch, usage_rate_pending
from billing.rating.tasks import rating_sweep
from billing.usage.ingest import usage_ingest
from billing.usage.models import RatingBatch, UsageEvent
from tenants.services import api_key_create
from tests.factories import ApprovedVersionFactory, profile_document
from tests.factories.usage import NOW, event, post_usage, usage_env, usage_world

__all__ = ["usage_env"]

pytestmark = pytest.mark.usefixtures("usage_env")


def at(day: int, hour: int, minute: int = 0) -> str:
    return f"2026-11-{day:02d}T{hour:02d}:{minute:02d}:00Z"


def hour(day: int, h: int) -> datetime:
    return datetime(2026, 11, day, h, tzinfo=UTC)


def ingest(world, events):
    return usage_ingest(tenant=world.tenant, events=events)


def batch_states() -> set[str]:
    return set(RatingBatch.objects.values_list("status", flat=True))


def buckets() -> list[tuple[datetime, Decimal, int]]:
    return list(UsageAggregate.objects.order_by("hour").values_list("hour", "quantity", "event_count"))


def test_it_rates_pending_events_into_hourly_aggregates():
    world = usage_world()
    ingest(
        world,
        [
            event("a", timestamp=at(2, 10, 5), quantity="1.5"),
            event("b", timestamp=at(2, 10, 55), quantity="2"),
            event("c", timestamp=at(2, 11, 0), quantity="4"),
        ],
    )
    result = usage_rate_batch()
    assert (result.claimed, result.rated, result.late) == (3, 3, 0)
    assert buckets() == [(hour(2, 10), Decimal("3.5"), 2), (hour(2, 11), Decimal("4"), 1)]
    first = UsageAggregate.objects.get(hour=hour(2, 10))
    assert (first.first_event_at, first.last_event_at) == (
        datetime(2026, 11, 2, 10, 5, tzinfo=UTC),
        datetime(2026, 11, 2, 10, 55, tzinfo=UTC),
    )
    assert list(RatingBatch.objects.values_list("status", "rated_at")) == [("rated", NOW)]


def test_rating_leaves_ordinary_event_rows_as_ingested():
    world = usage_world()
    ingest(world, [event("a", timestamp=at(2, 10, 5), quantity="1.5")])
    usage_rate_batch()
    stored = UsageEvent.objects.get()
    assert (stored.status, stored.late, stored.profile_version_id) == ("accepted", False, None)


def test_it_adds_later_batches_into_the_same_bucket():
    world = usage_world()
    ingest(world, [event("a", timestamp=at(2, 10, 5), quantity="1.5")])
    usage_rate_pending()
    ingest(world, [event("b", timestamp=at(2, 10, 7), quantity="0.25")])
    usage_rate_pending()
    assert buckets() == [(hour(2, 10), Decimal("1.75"), 2)]


@pytest.mark.parametrize(
    ("aggregation", "expected"),
    [
        (Meter.Aggregation.COUNT, Decimal("3")),
        (Meter.Aggregation.MAX, Decimal("7")),
        (Meter.Aggregation.LATEST, Decimal("2")),
    ],
)
def test_it_aggregates_per_the_meter(aggregation, expected):
    world = usage_world(sku_code="gauge", aggregation=aggregation)
    ingest(world, [event("a", sku="gauge", timestamp=at(2, 10, 1), quantity="5")])
    usage_rate_pending()  # the bucket exists before the next batch merges into it
    ingest(
        world,
        [
            event("c", sku="gauge", timestamp=at(2, 10, 30), quantity="2"),
            event("b", sku="gauge", timestamp=at(2, 10, 20), quantity="7"),
        ],
    )
    usage_rate_pending()
    assert buckets() == [(hour(2, 10), expected, 3)]


def test_latest_keeps_the_latest_event_even_when_rated_first():
    world = usage_world(sku_code="gauge", aggregation=Meter.Aggregation.LATEST)
    ingest(world, [event("late-ts", sku="gauge", timestamp=at(2, 10, 50), quantity="9")])
    usage_rate_pending()
    ingest(world, [event("early-ts", sku="gauge", timestamp=at(2, 10, 10), quantity="1")])
    usage_rate_pending()
    assert buckets() == [(hour(2, 10), Decimal("9"), 2)]


def test_unique_count_counts_distinct_values_per_hour_and_over_the_period():
    world = usage_world(
        sku_code="active_users", aggregation=Meter.Aggregation.UNIQUE_COUNT, unique_tag="user"
    )
    ingest(
        world,
        [
            event("a", sku="active_users", timestamp=at(2, 10), tags={"user": "u1"}),
            event("b", sku="active_users", timestamp=at(2, 10, 5), tags={"user": "u2"}),
        ],
    )
    usage_rate_pending()
    ingest(
        world,
        [
            event("c", sku="active_users", timestamp=at(2, 10, 9), tags={"user": "u1"}),
            event("d", sku="active_users", timestamp=at(3, 8), tags={"user": "u1"}),
            event("e", sku="active_users", timestamp=at(3, 9), tags={"user": 3}),
        ],
    )
    usage_rate_pending()
    assert [(h, q) for h, q, _ in buckets()] == [
        (hour(2, 10), Decimal("2")),
        (hour(3, 8), Decimal("1")),
        (hour(3, 9), Decimal("1")),
    ]
    (usage,) = period_usage(tenant_id=world.tenant.pk, start=hour(1, 0), end=hour(30, 0))
    assert (usage.quantity, usage.event_count) == (Decimal("3"), 5)  # u1, u2, 3


def test_each_event_is_rated_by_the_version_in_force_at_its_timestamp():
    world = usage_world()
    v2 = ApprovedVersionFactory.create(
        profile=world.version.profile,
        body=profile_document(world.version.profile.code, unit_amount="0.20"),
        effective_from=datetime(2026, 11, 10, tzinfo=UTC),
    )
    ingest(
        world,
        [
            event("new", timestamp=at(12, 9), quantity="10"),
            event("old", timestamp=at(5, 9), quantity="10"),
            event("edge", timestamp=at(10, 0), quantity="1"),
        ],
    )
    usage_rate_pending()
    assert sorted(UsageAggregate.objects.values_list("hour", "profile_version_id", "quantity")) == [
        (hour(5, 9), world.version.pk, Decimal("10")),  # old
        (hour(10, 0), v2.pk, Decimal("1")),  # edge: v2 takes effect at that instant
        (hour(12, 9), v2.pk, Decimal("10")),  # new
    ]
    estimate = TenantUsageEstimate.objects.get()
    assert (estimate.period_key, estimate.quantity, estimate.amount) == (
        "2026-11",
        Decimal("21"),
        Decimal("3.2"),
    )


def test_an_event_priced_per_event_records_the_version_it_was_rated_with():
    world = usage_world(prices=[{"sku": "api_calls", "model": "percentage", "rate": "2.9"}])
    v2 = ApprovedVersionFactory.create(
        profile=world.version.profile,
        body=profile_document(world.version.profile.code, unit_amount="0.20"),
        effective_from=datetime(2026, 11, 10, tzinfo=UTC),
    )
    ingest(world, [event("pct", timestamp=at(5, 9)), event("unit", timestamp=at(12, 9))])
    usage_rate_pending()
    assert dict(UsageEvent.objects.values_list("event_id", "profile_version_id")) == {
        "pct": world.version.pk,  # percentage: close prices it event by event
        "unit": None,  # per unit under v2: its version is in the aggregate
    }
    assert v2.pk != world.version.pk


def test_a_batch_killed_after_the_aggregate_upsert_rolls_back_and_reruns_the_same():
    world = usage_world()
    ingest(world, [event(f"e{i}", timestamp=at(2, i % 3), quantity=str(i)) for i in range(1, 10)])

    def killed() -> None:
        raise RuntimeError("worker killed")

    with pytest.raises(RuntimeError):
        usage_rate_batch(rater=Rater(after_upsert=killed))
    assert UsageAggregate.objects.count() == 0
    assert batch_states() == {"pending"}
    assert TenantUsageEstimate.objects.count() == 0
    usage_rate_pending()
    assert buckets() == [
        (hour(2, 0), Decimal("18"), 3),
        (hour(2, 1), Decimal("12"), 3),
        (hour(2, 2), Decimal("15"), 3),
    ]
    assert batch_states() == {"rated"}


def test_an_event_in_a_closed_period_is_flagged_late_and_rated_into_its_period():
    world = usage_world(backdating_days=70)
    BillingPeriod.objects.create(
        tenant=world.tenant,
        key="2026-10",
        start=datetime(2026, 10, 1, tzinfo=UTC),
        end=hour(1, 0),
        status="closed",
        closed_at=hour(3, 0),
    )
    ingest(world, [event("oct", timestamp="2026-10-31T23:30:00Z"), event("nov", timestamp=at(1, 0))])
    result = usage_rate_pending()
    assert result.claimed == 2
    assert dict(UsageEvent.objects.values_list("event_id", "late")) == {"oct": True, "nov": False}
    assert UsageAggregate.objects.filter(hour=datetime(2026, 10, 31, 23, tzinfo=UTC)).count() == 1


def test_rating_quarantines_an_event_whose_profile_went_away():
    world = usage_world()
    ingest(world, [event("a", timestamp=at(2, 10))])
    world.tenant.profile_assignments.update(effective_to=hour(1, 0))
    usage_rate_pending()
    stored = UsageEvent.objects.get()
    assert (stored.status, stored.quarantine_reason) == ("quarantined", "no_profile_version")
    assert UsageAggregate.objects.count() == 0


def test_the_running_estimate_prices_the_open_period_per_sku():
    world = usage_world(
        prices=[
            {
                "sku": "api_calls",
                "model": "graduated",
                "tiers": [
                    {"up_to": "100", "unit_amount": "0", "flat_amount": "0"},
                    {"up_to": None, "unit_amount": "0.01"},
                ],
            },
        ]
    )
    ingest(world, [event(f"e{i}", timestamp=at(3 + i, 10), quantity="50") for i in range(5)])
    usage_rate_pending()
    estimate = TenantUsageEstimate.objects.get()
    assert (estimate.quantity, estimate.event_count, estimate.amount, estimate.currency) == (
        Decimal("250"),
        5,
        Decimal("1.5"),
        "EUR",
    )


def test_ingest_nudges_rating_after_commit(client, django_capture_on_commit_callbacks):
    world = usage_world()
    with django_capture_on_commit_callbacks(execute=True):
        post_usage(client, world, [event("a", timestamp=at(2, 10), quantity="3")])
    assert batch_states() == {"rated"}
    assert buckets() == [(hour(2, 10), Decimal("3"), 1)]


def test_ingest_succeeds_with_the_broker_down_and_the_sweeper_rates_later(
    client, django_capture_on_commit_callbacks
):
    from kombu import pools as kombu_pools

    from config.celery import app

    world = usage_world()
    saved = {"broker_url": app.conf.broker_url, "task_always_eager": app.conf.task_always_eager}
    app.conf.update(broker_url="redis://127.0.0.1:1/0", task_always_eager=False)
    try:
        with (
            override_settings(CELERY_TASK_ALWAYS_EAGER=False),
            django_capture_on_commit_callbacks(execute=True),
        ):
            response = post_usage(client, world, [event("a", timestamp=at(2, 10), quantity="3")])
    finally:
        app.conf.update(**saved)
        # Drop the connections made to the dead broker and let the app build a fresh pool (eager tasks
        # still acquire a producer in Celery 5.7, so a closed pool would break later tests).
        app.pool.force_close_all()  # type: ignore[attr-defined]
        app._pool = None  # type: ignore[attr-defined]
        app.amqp._producer_pool = None  # type: ignore[attr-defined]
        kombu_pools.reset()
    assert response.json()["results"] == [{"event_id": "a", "status": "accepted"}]
    assert batch_states() == {"pending"}
    assert rating_sweep() == 0  # not overdue yet
    with time_machine.travel(NOW + timedelta(seconds=61), tick=False):
        assert rating_sweep() == 1
    assert batch_states() == {"rated"}


# --- summary ------------------------------------------------------------------------------------


def test_the_summary_shows_the_callers_running_estimate(client):
    world = usage_world()
    with override_settings(CELERY_TASK_ALWAYS_EAGER=True):
        ingest(world, [event("a", timestamp=at(2, 10), quantity="12.5")])
        usage_rate_pending()
    response = client.get("/api/v1/usage/summary", **world.auth())
    assert response.status_code == 200
    body = response.json()
    assert (body["tenant"], body["period"], body["currency"], body["source"]) == (
        "acme",
        "2026-11",
        "EUR",
        "running_estimate",
    )
    assert body["lines"] == [
        {
            "sku": "api_calls",
            "quantity": "12.500000000000",
            "event_count": 1,
            "estimated_amount": "1.250000000000",
            "estimated_amount_display": "€1.25",
        }
    ]
    assert (body["estimated_total"], body["estimated_total_display"]) == ("1.250000000000", "€1.25")


def test_the_summary_of_a_past_period_is_priced_from_aggregates(client):
    world = usage_world(backdating_days=70)
    ingest(world, [event("a", timestamp="2026-10-20T10:00:00Z", quantity="4")])
    usage_rate_pending()
    body = client.get("/api/v1/usage/summary?period=2026-10", **world.auth()).json()
    assert (body["period"], body["source"], body["estimated_total"]) == (
        "2026-10",
        "aggregates",
        "0.400000000000",
    )


def test_another_tenant_sees_nothing_of_it_in_the_summary(client):
    acme = usage_world(slug="acme")
    globex = usage_world(slug="globex")
    ingest(acme, [event("a", timestamp=at(2, 10), quantity="12.5")])
    usage_rate_pending()
    mine = client.get("/api/v1/usage/summary", **globex.auth()).json()
    assert (mine["tenant"], mine["lines"], mine["estimated_total"]) == ("globex", [], "0.000000000000")
    assert client.get("/api/v1/usage/summary?tenant=acme", **globex.auth()).status_code == 404


def test_a_platform_key_reads_the_summary_of_the_tenant_it_names(client):
    acme = usage_world(slug="acme")
    ingest(acme, [event("a", timestamp=at(2, 10), quantity="10")])
    usage_rate_pending()
    platform = api_key_create(tenant=None).secret
    auth = {"HTTP_AUTHORIZATION": f"Bearer {platform}"}
    assert (
        client.get("/api/v1/usage/summary?tenant=acme", **auth).json()["estimated_total"] == "1.000000000000"
    )
    assert client.get("/api/v1/usage/summary", **auth).status_code == 400
    assert client.get("/api/v1/usage/summary?tenant=nobody", **auth).status_code == 404


def test_the_summary_refuses_a_bad_period(client):
    world = usage_world()
    assert client.get("/api/v1/usage/summary?period=2026-13", **world.auth()).status_code == 400


def test_the_summary_needs_a_key(client):
    usage_world()
    assert client.get("/api/v1/usage/summary").status_code == 401


def test_a_burst_of_batches_publishes_one_rating_task_until_it_starts(
    client, settings, monkeypatch, django_capture_on_commit_callbacks
):
    from billing.rating.tasks import rate_pending, rating_nudge_received

    settings.CELERY_TASK_ALWAYS_EAGER = False
    published: list[int] = []
    monkeypatch.setattr(rate_pending, "delay", lambda: published.append(1))
    world = usage_world()
    with django_capture_on_commit_callbacks(execute=True):
        for i in range(5):
            post_usage(client, world, [event(f"e-{i}", timestamp=at(2, 10))])
    assert len(published) == 1
    rating_nudge_received()  # the task starts: the next commit must queue a successor
    with django_capture_on_commit_callbacks(execute=True):
        post_usage(client, world, [event("e-late", timestamp=at(2, 10))])
    assert len(published) == 2


def test_the_sweeper_forgets_idempotency_records_after_their_retention(client):
    from billing.usage.models import IngestRequest

    world = usage_world()
    post_usage(client, world, [event("a", timestamp=at(2, 10))], HTTP_IDEMPOTENCY_KEY="old")
    with time_machine.travel(NOW + timedelta(hours=71), tick=False):
        rating_sweep()
    assert IngestRequest.objects.count() == 1
    with time_machine.travel(NOW + timedelta(hours=73), tick=False):
        rating_sweep()
    assert IngestRequest.objects.count() == 0


@override_settings(RATING_ESTIMATE_INTERVAL_SECONDS=3600)
def test_estimates_wait_for_the_interval_while_a_backlog_drains_and_follow_once_it_is_drained():
    started = 86_400.0  # a worker that just started, on a host up for a day
    rater = Rater(clock=lambda: started)
    world = usage_world()
    ingest(world, [event("a", timestamp=at(2, 10), quantity="4")])
    ingest(world, [event("b", timestamp=at(2, 11), quantity="6")])
    first = usage_rate_batch(limit=1, rater=rater)
    assert (first.claimed, first.drained, TenantUsageEstimate.objects.count()) == (1, False, 0)
    usage_rate_pending(rater=rater)  # the rest, until nothing is left: drained
    assert TenantUsageEstimate.objects.get().quantity == Decimal("10")
