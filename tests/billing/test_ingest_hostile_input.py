"""Hostile input never makes the API answer 500: each case gets a clear 4xx or a per-event rejection."""

from __future__ import annotations

import json

import pytest

from billing.usage.models import UsageEvent
from tenants.services import api_key_create
from tests.factories import TenantFactory
from tests.factories.usage import event, post_usage, usage_env, usage_world

__all__ = ["usage_env"]

pytestmark = pytest.mark.usefixtures("usage_env")


def outcome(response) -> tuple[int, list[tuple[str, str]]]:
    return response.status_code, [(r["status"], r.get("reason", "")) for r in response.json()["results"]]


def test_the_poison_quantity_of_the_stall_is_refused_and_the_rest_of_the_batch_stored(client):
    # the 26-digit quantity that, twice in one hour, overflowed the hourly aggregate and stalled rating
    world = usage_world()

    response = post_usage(
        client, world, [event("e-1", quantity="9" * 26), event("e-2", quantity="9" * 26), event("e-3")]
    )

    assert outcome(response) == (
        200,
        [("rejected", "quantity_out_of_range"), ("rejected", "quantity_out_of_range"), ("accepted", "")],
    )
    assert list(UsageEvent.objects.values_list("event_id", flat=True)) == ["e-3"]


def test_the_largest_quantity_is_accepted_and_the_next_refused(client):
    world = usage_world()
    largest = "999999999999999.999999999999"

    response = post_usage(
        client, world, [event("e-1", quantity=largest), event("e-2", quantity="1" + "0" * 15)]
    )

    assert outcome(response) == (200, [("accepted", ""), ("rejected", "quantity_out_of_range")])
    assert str(UsageEvent.objects.get(event_id="e-1").quantity) == largest


def test_a_huge_json_number_is_refused_not_a_crash(client):
    world = usage_world()

    response = client.post(
        "/api/v1/usage",
        data=b'{"events": [{"event_id": "e-1", "sku": "api_calls", "timestamp": "2026-11-02T10:00:00Z", '
        b'"quantity": 1e25}]}',
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {world.secret}",
    )

    assert outcome(response) == (200, [("rejected", "quantity_out_of_range")])


@pytest.mark.parametrize("quantity", ["1_000", "\u0661\u0662", "12.", "1E+3", "+1", " 1", ".5", "0x10"])
def test_a_quantity_that_is_not_a_plain_ascii_decimal_is_refused(client, quantity):
    world = usage_world()

    response = post_usage(client, world, [event("e-1", quantity=quantity)])

    assert outcome(response) == (200, [("rejected", "invalid_quantity")])


@pytest.mark.parametrize(
    "timestamp",
    ["2026-W48-1T10:00:00Z", "2026-11-02 10:00:00Z", "20261102T100000Z", "2026-11-02T10:00:00.1234567Z"],
)
def test_a_timestamp_that_is_not_rfc_3339_is_refused(client, timestamp):
    world = usage_world()

    response = post_usage(client, world, [event("e-1", timestamp=timestamp)])

    assert outcome(response) == (200, [("rejected", "invalid_timestamp")])


def test_rfc_3339_lower_case_separators_are_accepted(client):
    world = usage_world()

    response = post_usage(client, world, [event("e-1", timestamp="2026-11-02t10:00:00z")])

    assert outcome(response) == (200, [("accepted", "")])


def test_a_timestamp_before_the_first_instant_is_rejected(client):
    world = usage_world()

    response = post_usage(client, world, [event("e-1", timestamp="0001-01-01T00:00:00+01:00")])

    assert outcome(response) == (200, [("rejected", "invalid_timestamp")])


@pytest.mark.parametrize("field", ["event_id", "sku"])
def test_a_lone_surrogate_in_a_string_field_is_rejected(client, field):
    world = usage_world()
    body = event("e-1")
    body[field] = "e\ud800"
    raw = json.dumps({"events": [body]})  # ensure_ascii: travels as the escape \ud800

    response = client.post("/api/v1/usage", data=raw, content_type="application/json", **world.auth())

    assert outcome(response) == (200, [("rejected", f"invalid_{field}")])


def test_a_nul_in_a_tag_is_rejected(client):
    world = usage_world()

    response = post_usage(client, world, [event("e-1", tags={"region": "eu\x00west"})])

    assert outcome(response) == (200, [("rejected", "invalid_tags")])
    assert not UsageEvent.objects.exists()


def test_a_summary_for_a_period_before_year_one_is_a_400(client):
    world = usage_world()
    world.tenant.timezone = "Europe/Berlin"
    world.tenant.save(update_fields=["timezone"])

    response = client.get("/api/v1/usage/summary?period=0001-01", **world.auth())

    assert response.status_code == 400


def test_a_deeply_nested_quote_body_is_a_400(client):
    secret = api_key_create(tenant=TenantFactory.create()).secret

    response = client.post(
        "/api/v1/quotes",
        data="[" * 100_000 + "]" * 100_000,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )

    assert response.status_code == 400
