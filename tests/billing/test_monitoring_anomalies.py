"""Spend anomalies over rated usage (billing.monitoring.anomalies): hourly and day-to-date windows against
the tenant's own trailing baseline, naming the project and tag values that carry the increase, one open
alert per SKU and window kind while it lasts, resolved when usage is back to normal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from billing.catalog.models import Sku
from billing.monitoring import anomalies
from billing.monitoring.anomalies import anomalies_evaluate
from billing.rating.estimates import usage_estimates_refresh
from billing.rating.models import UsageAggregate
from billing.usage.models import RatingBatch, UsageEvent
from ledger.models import Alert
from tests.factories.ledger import World, usage, world
from tests.factories.usage import rating_batch_id_next

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)
SPIKE_HOUR = datetime(2026, 11, 20, 13, tzinfo=UTC)


def _hours(w: World, first: datetime, last: datetime, quantity: str = "100") -> None:
    at = first
    while at <= last:
        usage(w.tenant, "api_calls", w.version, at + timedelta(minutes=5), quantity)
        at += timedelta(hours=1)


def _spike(w: World, hour: datetime, quantity: str) -> None:
    """Rated usage of project `ml` in region us-east-1 (as the ingest stores a project and tags): the
    event, its rated batch, and the hour's aggregate."""
    at = hour + timedelta(minutes=20)
    sku = Sku.objects.get(code="api_calls")
    batch_id = rating_batch_id_next()
    stored = UsageEvent.objects.create(
        tenant=w.tenant, event_id=f"spike-{at:%d%H}", sku=sku, sku_code="api_calls",
        project_code="ml", tags={"region": "us-east-1", "team": "research"}, timestamp=at,
        quantity=Decimal(quantity), payload_sha256="0" * 64, received_at=at, rating_batch_id=batch_id,
    )  # fmt: skip
    RatingBatch.objects.create(
        id=batch_id, first_event_id=stored.pk, last_event_id=stored.pk, event_count=1, tenant_ids=[w.tenant.pk],
        earliest_event_at=at, latest_event_at=at, created_at=at,
    )  # fmt: skip
    RatingBatch.objects.filter(pk=batch_id).update(status=RatingBatch.Status.RATED, rated_at=at)
    aggregate = UsageAggregate.objects.filter(tenant=w.tenant, hour=hour).first()
    if aggregate is None:
        UsageAggregate.objects.create(
            tenant=w.tenant, sku=sku, profile_version=w.version, hour=hour, quantity=Decimal(quantity),
            event_count=1, first_event_at=at, last_event_at=at, updated_at=at,
        )  # fmt: skip
    else:
        aggregate.quantity += Decimal(quantity)
        aggregate.event_count += 1
        aggregate.save()


def _open(tenant_id: int) -> dict[str, Alert]:
    return {a.key: a for a in Alert.objects.filter(tenant_id=tenant_id).exclude(state=Alert.State.RESOLVED)}


def _ten_days_then_a_spike(*, slug: str = "acme", unit_amount: str = "0.10") -> World:
    w = world(slug=slug, prices=[{"sku": "api_calls", "model": "per_unit", "unit_amount": unit_amount}])
    _hours(w, NOW - timedelta(days=10, minutes=30), SPIKE_HOUR)
    _spike(w, SPIKE_HOUR, "1000")
    usage_estimates_refresh(tenant_ids={w.tenant.pk}, now=NOW)
    return w


def test_a_spike_in_the_last_hour_fires_naming_the_sku_project_and_tags() -> None:
    w = _ten_days_then_a_spike()
    run = anomalies_evaluate(now=NOW, tenant_ids=[w.tenant.pk])
    assert (run.evaluated, run.firing, run.failed) == (1, 2, 0)
    found = _open(w.tenant.pk)
    assert sorted(found) == ["api_calls:daily", "api_calls:hourly"]
    hourly = found["api_calls:hourly"]
    assert (hourly.kind, hourly.severity) == ("anomaly", "critical")  # 11x the usual
    assert hourly.details["start"] == SPIKE_HOUR.isoformat()
    assert (hourly.details["observed_spend"], hourly.details["expected_spend"]) == ("110.00", "10.00")
    assert hourly.details["projects"] == [{"project": "ml", "quantity": "1000", "increase": "1000"}]
    assert hourly.details["tags"] == [
        {"tag": "region", "value": "us-east-1", "quantity": "1000", "increase": "1000"},
        {"tag": "team", "value": "research", "quantity": "1000", "increase": "1000"},
    ]
    assert hourly.message == (
        "api_calls: spend in the hour from 2026-11-20 13:00 is €110.00, 11.0x the usual €10.00; "
        "carried by project ml, region=us-east-1, team=research."
    )


def test_an_ongoing_anomaly_keeps_one_alert_and_resolves_when_back_to_normal() -> None:
    w = _ten_days_then_a_spike()
    anomalies_evaluate(now=NOW, tenant_ids=[w.tenant.pk])
    anomalies_evaluate(now=NOW + timedelta(minutes=10), tenant_ids=[w.tenant.pk])  # the next run
    assert {key: a.occurrences for key, a in _open(w.tenant.pk).items()} == {
        "api_calls:daily": 2,
        "api_calls:hourly": 2,
    }
    # two normal hours later: the hour is back to normal, and so is the day (2,600 against 1,700 usually)
    _hours(w, SPIKE_HOUR + timedelta(hours=1), SPIKE_HOUR + timedelta(hours=2))
    later = NOW + timedelta(hours=2)
    usage_estimates_refresh(tenant_ids={w.tenant.pk}, now=later)
    run = anomalies_evaluate(now=later, tenant_ids=[w.tenant.pk])
    assert (run.resolved, _open(w.tenant.pk)) == (2, {})
    hourly = Alert.objects.get(tenant=w.tenant, key="api_calls:hourly")
    assert (hourly.state, hourly.resolved_at) == ("resolved", later)


def test_the_running_hour_fires_as_soon_as_what_arrived_is_anomalous() -> None:
    w = world()
    _hours(w, NOW - timedelta(days=10, minutes=30), SPIKE_HOUR)
    _spike(w, NOW.replace(minute=0), "1000")  # 14:20, ten minutes before the evaluation
    usage_estimates_refresh(tenant_ids={w.tenant.pk}, now=NOW)
    anomalies_evaluate(now=NOW, tenant_ids=[w.tenant.pk])
    assert _open(w.tenant.pk)["api_calls:hourly"].details["start"] == "2026-11-20T14:00:00+00:00"


def test_it_says_nothing_before_seven_days_of_history() -> None:
    w = world()
    _hours(w, NOW - timedelta(days=6, minutes=30), SPIKE_HOUR)
    _spike(w, SPIKE_HOUR, "1000")
    usage_estimates_refresh(tenant_ids={w.tenant.pk}, now=NOW)
    run = anomalies_evaluate(now=NOW, tenant_ids=[w.tenant.pk])
    assert (run.evaluated, _open(w.tenant.pk)) == (1, {})


def test_an_increase_worth_less_than_the_minimum_spend_is_not_alerted() -> None:
    w = _ten_days_then_a_spike(unit_amount="0.0001")  # 900 more calls cost 0.09
    anomalies_evaluate(now=NOW, tenant_ids=[w.tenant.pk])
    assert _open(w.tenant.pk) == {}


def test_a_tenant_that_fails_is_counted_and_the_others_are_evaluated(monkeypatch: Any) -> None:
    bad, good = _ten_days_then_a_spike(slug="bad"), _ten_days_then_a_spike(slug="good")
    real = anomalies.tenant_anomalies_evaluate

    def failing(**kwargs: Any) -> Any:
        if kwargs["tenant"].pk == bad.tenant.pk:
            raise ValueError("boom")
        return real(**kwargs)

    monkeypatch.setattr(anomalies, "tenant_anomalies_evaluate", failing)
    run = anomalies_evaluate(now=NOW, tenant_ids=[bad.tenant.pk, good.tenant.pk])
    assert (run.evaluated, run.failed, len(_open(bad.tenant.pk)), len(_open(good.tenant.pk))) == (1, 1, 0, 2)


def test_chunked_reads_give_the_verdicts_of_one_tenant_at_a_time(monkeypatch: Any) -> None:
    """usage_read of many tenants in one query is the per-tenant road: the same alerts, word for word."""
    spiked = [_ten_days_then_a_spike(slug=f"spiked-{i}") for i in range(2)]
    calm = world(slug="calm", prices=[{"sku": "api_calls", "model": "per_unit", "unit_amount": "0.10"}])
    _hours(calm, NOW - timedelta(days=10, minutes=30), NOW)
    young = world(slug="young", prices=[{"sku": "api_calls", "model": "per_unit", "unit_amount": "0.10"}])
    _hours(young, NOW - timedelta(days=5), SPIKE_HOUR)
    _spike(young, SPIKE_HOUR, "1000")
    usage_estimates_refresh(tenant_ids={calm.tenant.pk, young.tenant.pk}, now=NOW)
    ids = [w.tenant.pk for w in [*spiked, calm, young]]

    def alerts() -> list[tuple[Any, ...]]:
        rows = Alert.objects.filter(tenant_id__in=ids).order_by("tenant_id", "key")
        return [(a.tenant_id, a.key, a.state, a.severity, a.message, a.details) for a in rows]

    monkeypatch.setattr(anomalies, "CHUNK", 1)
    one_by_one = anomalies_evaluate(now=NOW, tenant_ids=ids)
    expected = alerts()
    Alert.objects.filter(tenant_id__in=ids).delete()
    monkeypatch.setattr(anomalies, "CHUNK", 200)
    chunked = anomalies_evaluate(now=NOW, tenant_ids=ids)
    assert (chunked.evaluated, chunked.firing, chunked.failed) == (4, 4, 0)
    assert (one_by_one.evaluated, one_by_one.firing, one_by_one.failed) == (4, 4, 0)
    assert alerts() == expected
    assert {(tenant_id, key) for tenant_id, key, *_rest in expected} == {
        (w.tenant.pk, key) for w in spiked for key in ("api_calls:hourly", "api_calls:daily")
    }
