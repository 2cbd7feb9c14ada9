"""POST /api/v1/usage: outcomes per event, rejections, quarantine, auth, limits, request idempotency."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.test import override_settings

from billing.catalog.models import Meter
from billing.usage.models import IngestRequest, RatingBatch, UsageEvent
from tenants.services import api_key_create, api_key_revoke
from tests.factories import ProjectFactory
from tests.factories.usage import NOW, event, post_usage, sku_with_meter, usage_env, usage_world

__all__ = ["usage_env"]

pytestmark = pytest.mark.usefixtures("usage_env")


def NOW_MINUS_DAYS(days: int):
    return NOW - timedelta(days=days)


def results(response: Any) -> list[tuple[str, str]]:
    return [(r["status"], r.get("reason", "")) for r in response.json()["results"]]


def test_it_accepts_and_stores_an_event(client):
    world = usage_world()
    response = post_usage(client, world, [event("e-1", quantity="12.5", project=None, tags={"region": "eu"})])
    assert response.status_code == 200
    assert response.json() == {
        "results": [{"event_id": "e-1", "status": "accepted"}],
        "counts": {"accepted": 1},
    }
    stored = UsageEvent.objects.get()
    assert (stored.tenant_id, stored.sku_id, stored.quantity, stored.tags, stored.status) == (
        world.tenant.pk,
        world.sku.pk,
        Decimal("12.5"),
        {"region": "eu"},
        "accepted",
    )


def test_it_records_the_stored_events_as_one_pending_rating_batch(client):
    world = usage_world()
    post_usage(client, world, [event("a"), event("b", timestamp="2026-11-15T09:00:00Z")])
    response = post_usage(client, world, [event("a"), event("c", timestamp="2026-11-15T11:00:00Z")])
    assert response.json()["counts"] == {"accepted": 1, "duplicate": 1}
    first, second = RatingBatch.objects.order_by("pk")
    ids = dict(UsageEvent.objects.values_list("event_id", "pk"))
    assert (first.first_event_id, first.last_event_id, first.event_count) == (ids["a"], ids["b"], 2)
    assert (second.first_event_id, second.last_event_id, second.event_count) == (ids["c"], ids["c"], 1)
    assert (second.status, second.tenant_id, second.tenant_ids, second.earliest_event_at) == (
        "pending",
        world.tenant.pk,  # a tenant key's batch names its tenant: raters take it tenant by tenant
        [world.tenant.pk],
        datetime(2026, 11, 15, 11, tzinfo=UTC),
    )
    assert second.latest_event_at == datetime(2026, 11, 15, 11, tzinfo=UTC)
    assert dict(UsageEvent.objects.values_list("event_id", "rating_batch_id")) == {
        "a": first.pk,
        "b": first.pk,
        "c": second.pk,
    }


def test_a_platform_request_of_several_tenants_makes_one_rating_batch_per_tenant(client):
    acme, globex = usage_world(slug="acme"), usage_world(slug="globex")
    platform = api_key_create(tenant=None).secret
    events = [event("a1", tenant="acme"), event("g1", tenant="globex"), event("a2", tenant="acme")]
    post_usage(client, platform, events)
    batches = {b.tenant_id: b for b in RatingBatch.objects.all()}
    ids = dict(UsageEvent.objects.values_list("event_id", "pk"))
    acme_batch, globex_batch = batches[acme.tenant.pk], batches[globex.tenant.pk]
    assert (
        acme_batch.tenant_ids,
        acme_batch.event_count,
        acme_batch.first_event_id,
        acme_batch.last_event_id,
    ) == (
        [acme.tenant.pk],
        2,
        ids["a1"],
        ids["a2"],
    )
    assert (globex_batch.tenant_ids, globex_batch.event_count) == ([globex.tenant.pk], 1)


def test_a_platform_request_stores_each_tenants_events_in_one_id_run_in_request_order(client):
    acme, globex = usage_world(slug="acme"), usage_world(slug="globex")
    platform = api_key_create(tenant=None).secret
    sent = [event(f"{slug[0]}{i}", tenant=slug) for i in range(3) for slug in ("globex", "acme")]
    post_usage(client, platform, sent)
    stored = list(UsageEvent.objects.order_by("pk").values_list("event_id", flat=True))
    assert stored == ["a0", "a1", "a2", "g0", "g1", "g2"]  # tenant by tenant (acme's id is the lower)
    assert acme.tenant.pk < globex.tenant.pk


def test_a_quarantined_event_belongs_to_no_rating_batch(client):
    world = usage_world()
    response = post_usage(client, world, [event("q", sku="no_such_sku")])
    assert response.json()["results"] == [{"event_id": "q", "status": "quarantined", "reason": "unknown_sku"}]
    assert UsageEvent.objects.get().rating_batch_id is None
    assert not RatingBatch.objects.exists()


def test_it_keeps_json_numbers_exact(client):
    world = usage_world()
    body = (
        '{"events": [{"event_id": "e-1", "sku": "api_calls", "timestamp": "2026-11-15T10:00:00Z", '
        '"quantity": 0.100000000001}]}'
    )
    response = client.post("/api/v1/usage", data=body, content_type="application/json", **world.auth())
    assert results(response) == [("accepted", "")]
    assert UsageEvent.objects.get().quantity == Decimal("0.100000000001")


def test_it_answers_duplicate_for_the_same_event_resent(client):
    world = usage_world()
    post_usage(client, world, [event("e-1", quantity="1")])
    response = post_usage(client, world, [event("e-1", quantity="1.000")])
    assert results(response) == [("duplicate", "")]
    assert UsageEvent.objects.count() == 1


def test_it_answers_conflict_and_keeps_the_stored_event(client):
    world = usage_world()
    post_usage(client, world, [event("e-1", quantity="1")])
    response = post_usage(client, world, [event("e-1", quantity="2")])
    assert results(response) == [("conflict", "")]
    assert UsageEvent.objects.get().quantity == Decimal("1")


def test_it_classifies_repeats_inside_one_batch(client):
    world = usage_world()
    response = post_usage(client, world, [event("e-1"), event("e-1"), event("e-1", quantity="9")])
    assert results(response) == [("accepted", ""), ("duplicate", ""), ("conflict", "")]
    assert UsageEvent.objects.count() == 1


def test_one_bad_event_loses_nothing_else_in_its_batch(client):
    world = usage_world()
    response = post_usage(client, world, [event("a"), event("b", quantity="NaN"), event("c")])
    assert results(response) == [("accepted", ""), ("rejected", "quantity_not_finite"), ("accepted", "")]
    assert sorted(UsageEvent.objects.values_list("event_id", flat=True)) == ["a", "c"]


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ({"timestamp": "yesterday"}, "invalid_timestamp"),
        ({"timestamp": 1700000000}, "invalid_timestamp"),
        ({"timestamp": "2026-11-15T10:00:00"}, "timestamp_without_offset"),
        ({"timestamp": "2026-11-15T12:05:01Z"}, "timestamp_in_future"),
        ({"timestamp": "2026-10-10T11:59:59Z"}, "timestamp_too_old"),
        ({"quantity": "NaN"}, "quantity_not_finite"),
        ({"quantity": "Infinity"}, "quantity_not_finite"),
        ({"quantity": "-1"}, "negative_quantity"),
        ({"quantity": "abc"}, "invalid_quantity"),
        ({"quantity": True}, "invalid_quantity"),
        ({"quantity": [1]}, "invalid_quantity"),
        ({"quantity": "0.0000000000001"}, "quantity_out_of_range"),
        ({"quantity": "1" + "0" * 26}, "quantity_out_of_range"),
        ({"event_id": ""}, "invalid_event_id"),
        ({"event_id": 7}, "invalid_event_id"),
        ({"event_id": "x" * 129}, "invalid_event_id"),
        ({"sku": None}, "invalid_sku"),
        ({"project": 5}, "invalid_project"),
        ({"tags": ["a"]}, "invalid_tags"),
        ({"tags": {"nested": {"a": 1}}}, "invalid_tags"),
        ({"tags": {"long": "x" * 257}}, "invalid_tags"),
        ({"tags": {f"k{i}": i for i in range(33)}}, "invalid_tags"),
        ({"colour": "blue"}, "unknown_field"),
    ],
)
def test_it_rejects_each_invalid_event_with_its_reason(client, bad, reason):
    world = usage_world()
    response = post_usage(client, world, [{**event("e-1"), **bad}])
    assert response.status_code == 200
    assert results(response) == [("rejected", reason)]
    assert UsageEvent.objects.count() == 0


def test_it_rejects_a_non_object_event(client):
    world = usage_world()
    assert results(post_usage(client, world, ["e-1"])) == [("rejected", "not_an_object")]


def test_it_rejects_a_missing_quantity(client):
    world = usage_world()
    payload = event("e-1")
    del payload["quantity"]
    assert results(post_usage(client, world, [payload])) == [("rejected", "invalid_quantity")]


def test_it_accepts_a_timestamp_inside_the_future_tolerance(client):
    world = usage_world()
    assert results(post_usage(client, world, [event(timestamp="2026-11-15T12:05:00Z")])) == [("accepted", "")]


def test_it_uses_the_profile_backdating_window(client):
    world = usage_world(backdating_days=70)
    response = post_usage(
        client,
        world,
        [event("old", timestamp="2026-09-10T00:00:00Z"), event("older", timestamp="2026-09-01T00:00:00Z")],
    )
    assert results(response) == [("accepted", ""), ("rejected", "timestamp_too_old")]


def test_it_accepts_negative_quantities_when_the_meter_allows_them(client):
    world = usage_world(sku_code="credits_adj", allow_negative=True)
    assert results(post_usage(client, world, [event(sku="credits_adj", quantity="-3")])) == [("accepted", "")]


def test_it_resolves_a_meter_code_with_a_single_sku(client):
    world = usage_world()
    response = post_usage(client, world, [event(sku="m-api_calls")])
    assert results(response) == [("accepted", "")]
    assert UsageEvent.objects.get().sku_id == world.sku.pk


# --- quarantine ---------------------------------------------------------------------------------


def test_it_quarantines_an_unknown_sku(client):
    world = usage_world()
    response = post_usage(client, world, [event(sku="teleport_minutes")])
    assert results(response) == [("quarantined", "unknown_sku")]
    stored = UsageEvent.objects.get()
    assert (stored.status, stored.quarantine_reason, stored.sku_id, stored.sku_code) == (
        "quarantined",
        "unknown_sku",
        None,
        "teleport_minutes",
    )


def test_it_quarantines_an_unknown_project(client):
    world = usage_world()
    response = post_usage(client, world, [event(project="ghost")])
    assert results(response) == [("quarantined", "unknown_project")]


def test_it_attributes_a_known_project(client):
    world = usage_world()
    project = ProjectFactory.create(tenant=world.tenant, code="web")
    assert results(post_usage(client, world, [event(project="web")])) == [("accepted", "")]
    assert UsageEvent.objects.get().project_id == project.pk


def test_it_does_not_attribute_another_tenants_project(client):
    world = usage_world()
    ProjectFactory.create(code="web")  # another tenant's
    assert results(post_usage(client, world, [event(project="web")])) == [("quarantined", "unknown_project")]


def test_it_quarantines_an_event_missing_a_required_tag(client):
    world = usage_world(required_tags=["project", "cost_center"])
    ProjectFactory.create(tenant=world.tenant, code="web")
    response = post_usage(
        client,
        world,
        [
            event("ok", project="web", tags={"cost_center": "cc-1"}),
            event("no-cc", project="web"),
            event("no-project", tags={"cost_center": "cc-1"}),
        ],
    )
    assert results(response) == [
        ("accepted", ""),
        ("quarantined", "missing_required_tag"),
        ("quarantined", "missing_required_tag"),
    ]


def test_it_quarantines_usage_before_any_profile_version(client):
    world = usage_world(effective_from=NOW_MINUS_DAYS(5))
    response = post_usage(client, world, [event(timestamp="2026-11-01T00:00:00Z")])
    assert results(response) == [("quarantined", "no_profile_version")]


def test_it_quarantines_a_sku_the_profile_does_not_price(client):
    world = usage_world()
    sku_with_meter("gpu_hours")
    assert results(post_usage(client, world, [event(sku="gpu_hours")])) == [
        ("quarantined", "sku_not_in_profile")
    ]


def test_it_quarantines_a_unique_count_event_without_its_tag(client):
    world = usage_world(
        sku_code="active_users", aggregation=Meter.Aggregation.UNIQUE_COUNT, unique_tag="user"
    )
    response = post_usage(
        client, world, [event("a", sku="active_users", tags={"user": "u1"}), event("b", sku="active_users")]
    )
    assert results(response) == [("accepted", ""), ("quarantined", "missing_unique_tag")]


# --- platform keys and auth -------------------------------------------------------------------


def test_a_platform_key_sends_events_for_the_tenants_it_names(client):
    acme = usage_world(slug="acme")
    globex = usage_world(slug="globex")
    platform = api_key_create(tenant=None).secret
    response = post_usage(client, platform, [event("e-1", tenant="acme"), event("e-1", tenant="globex")])
    assert results(response) == [("accepted", ""), ("accepted", "")]
    assert sorted(UsageEvent.objects.values_list("tenant_id", flat=True)) == sorted(
        [acme.tenant.pk, globex.tenant.pk]
    )


def test_a_platform_key_must_name_the_tenant(client):
    usage_world()
    platform = api_key_create(tenant=None).secret
    assert results(post_usage(client, platform, [event("e-1")])) == [("rejected", "missing_tenant")]


def test_a_platform_key_naming_an_unknown_tenant_is_quarantined_and_deduplicated(client):
    usage_world()
    platform = api_key_create(tenant=None).secret
    first = post_usage(client, platform, [event("e-1", tenant="nobody")])
    again = post_usage(client, platform, [event("e-1", tenant="nobody")])
    assert results(first) == [("quarantined", "unknown_tenant")]
    assert results(again) == [("duplicate", "")]
    assert UsageEvent.objects.get().tenant_slug == "nobody"


def test_a_tenant_key_may_name_its_own_tenant(client):
    world = usage_world(slug="acme")
    assert results(post_usage(client, world, [event(tenant="acme")])) == [("accepted", "")]


def test_a_tenant_key_naming_another_tenant_is_refused_whole(client):
    world = usage_world(slug="acme")
    usage_world(slug="globex")
    response = post_usage(client, world, [event("e-1"), event("e-2", tenant="globex")])
    assert response.status_code == 403
    assert UsageEvent.objects.count() == 0


def test_a_revoked_key_is_refused(client):
    world = usage_world()
    api_key_revoke(api_key=world.key)
    response = post_usage(client, world, [event()])
    assert response.status_code == 401
    assert UsageEvent.objects.count() == 0


def test_an_unknown_key_is_refused(client):
    usage_world()
    assert post_usage(client, "bk_nothing_here", [event()]).status_code == 401


def test_no_key_is_refused(client):
    usage_world()
    response = client.post("/api/v1/usage", data=json.dumps({"events": []}), content_type="application/json")
    assert response.status_code == 401


def test_a_logged_in_user_without_a_key_is_refused(staff):
    usage_world()
    response = staff.client.post(
        "/api/v1/usage", data=json.dumps({"events": [event()]}), content_type="application/json"
    )
    assert response.status_code == 401


# --- request-level errors ----------------------------------------------------------------------


@override_settings(USAGE_BATCH_MAX_EVENTS=3)
def test_it_refuses_a_batch_over_the_limit_with_413_naming_it(client):
    world = usage_world()
    response = post_usage(client, world, [event(f"e-{i}") for i in range(4)])
    assert response.status_code == 413
    assert "at most 3 events" in response.json()["message"]
    assert UsageEvent.objects.count() == 0


@override_settings(USAGE_MAX_BODY_BYTES=200)
def test_it_refuses_a_body_over_the_size_limit_with_413(client):
    world = usage_world()
    response = post_usage(client, world, [event(f"e-{i}") for i in range(5)])
    assert response.status_code == 413
    assert "200 bytes" in response.json()["message"]


def test_it_answers_400_to_malformed_json(client):
    world = usage_world()
    response = client.post(
        "/api/v1/usage", data='{"events": [', content_type="application/json", **world.auth()
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid"


@pytest.mark.parametrize("body", ["[]", '{"events": {}}', '{"events": [], "more": 1}', '"x"', "null"])
def test_it_answers_400_to_a_body_that_is_not_an_events_object(client, body):
    world = usage_world()
    response = client.post("/api/v1/usage", data=body, content_type="application/json", **world.auth())
    assert response.status_code == 400


def test_it_answers_400_to_invalid_utf8(client):
    world = usage_world()
    response = client.post(
        "/api/v1/usage", data=b'{"events": ["\xff"]}', content_type="application/json", **world.auth()
    )
    assert response.status_code == 400


def test_it_answers_415_to_another_content_type(client):
    world = usage_world()
    response = client.post("/api/v1/usage", data="events=1", content_type="text/plain", **world.auth())
    assert response.status_code == 415


def test_an_empty_batch_is_fine(client):
    world = usage_world()
    response = post_usage(client, world, [])
    assert (response.status_code, response.json()) == (200, {"results": [], "counts": {}})


# --- backpressure ------------------------------------------------------------------------------


@override_settings(USAGE_RATE_LIMIT_REQUESTS=2, USAGE_RATE_LIMIT_WINDOW_SECONDS=60)
def test_it_rate_limits_per_tenant_with_retry_after(client):
    world = usage_world(slug="acme")
    other = usage_world(slug="globex")
    assert post_usage(client, world, [event("a")]).status_code == 200
    assert post_usage(client, world, [event("b")]).status_code == 200
    limited = post_usage(client, world, [event("c")])
    assert limited.status_code == 429
    assert limited["Retry-After"] == "60"  # NOW is 12:00:00; the window ends at 12:01:00
    assert post_usage(client, other, [event("a")]).status_code == 200
    assert UsageEvent.objects.filter(tenant=world.tenant).count() == 2


@override_settings(
    USAGE_BACKLOG_MAX_PENDING=1, USAGE_BACKLOG_RETRY_AFTER_SECONDS=17, USAGE_BACKLOG_CACHE_SECONDS=0
)
def test_it_answers_503_when_the_backlog_passes_its_bound(client):
    world = usage_world()
    assert post_usage(client, world, [event("p0"), event("p1")]).status_code == 200  # 2 pending > 1
    response = post_usage(client, world, [event("new")])
    assert response.status_code == 503
    assert response["Retry-After"] == "17"
    assert not UsageEvent.objects.filter(event_id="new").exists()


# --- Idempotency-Key ---------------------------------------------------------------------------


def test_it_replays_the_first_response_byte_for_byte(client):
    world = usage_world()
    first = post_usage(
        client, world, [event("e-1"), event("bad", quantity="x")], HTTP_IDEMPOTENCY_KEY="req-1"
    )
    again = post_usage(
        client, world, [event("e-1"), event("bad", quantity="x")], HTTP_IDEMPOTENCY_KEY="req-1"
    )
    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert not first.has_header("Idempotent-Replayed")
    assert results(again) == [("accepted", ""), ("rejected", "invalid_quantity")]  # not "duplicate"


def test_it_refuses_the_same_key_with_another_body(client):
    world = usage_world()
    post_usage(client, world, [event("e-1")], HTTP_IDEMPOTENCY_KEY="req-1")
    response = post_usage(client, world, [event("e-2")], HTTP_IDEMPOTENCY_KEY="req-1")
    assert response.status_code == 409
    assert response.json()["error"] == "idempotency_conflict"
    assert not UsageEvent.objects.filter(event_id="e-2").exists()


def test_idempotency_keys_are_per_tenant(client):
    acme = usage_world(slug="acme")
    globex = usage_world(slug="globex")
    post_usage(client, acme, [event("e-1")], HTTP_IDEMPOTENCY_KEY="req-1")
    response = post_usage(client, globex, [event("e-1")], HTTP_IDEMPOTENCY_KEY="req-1")
    assert results(response) == [("accepted", "")]
    assert not response.has_header("Idempotent-Replayed")


def test_a_failed_write_leaves_no_idempotency_key(client, monkeypatch):
    world = usage_world()
    from billing.usage import ingest

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(ingest, "store_batch", broken)
    client.raise_request_exception = False
    assert post_usage(client, world, [event("e-1")], HTTP_IDEMPOTENCY_KEY="req-1").status_code == 500
    monkeypatch.undo()
    retry = post_usage(client, world, [event("e-1")], HTTP_IDEMPOTENCY_KEY="req-1")
    assert results(retry) == [("accepted", "")]
    assert IngestRequest.objects.count() == 1
