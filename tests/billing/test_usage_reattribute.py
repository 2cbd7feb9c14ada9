"""Quarantined events: re-attribution (service and admin action) sends them to rating."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.rating.models import UsageAggregate
from billing.rating.services import usage_rate_pending
from billing.usage.models import RatingBatch, UsageEvent
from billing.usage.quarantine import usage_event_reattribute
from common.errors import StateError, ValidationFailed
from tenants.services import api_key_create
from tests.factories import ProjectFactory
from tests.factories.usage import event, post_usage, sku_with_meter, usage_env, usage_world

__all__ = ["usage_env"]

pytestmark = pytest.mark.usefixtures("usage_env")


def test_reattributing_an_unknown_sku_event_rates_it(client, staff):
    world = usage_world()
    post_usage(client, world, [event("e-1", sku="api-calls", quantity="7")])  # a typo
    quarantined = UsageEvent.objects.get()
    fixed = usage_event_reattribute(event=quarantined, sku=world.sku, actor=staff.user)
    assert (fixed.status, fixed.quarantine_reason, fixed.sku_id) == ("accepted", "", world.sku.pk)
    batch = RatingBatch.objects.get(pk=fixed.rating_batch_id or 0)
    assert (batch.status, batch.source, batch.first_event_id, batch.event_count) == (
        "pending",
        "reattribution",
        fixed.pk,
        1,
    )
    usage_rate_pending()
    assert UsageAggregate.objects.get().quantity == Decimal("7")


def test_a_resent_original_is_still_a_duplicate_after_reattribution(client, staff):
    world = usage_world()
    post_usage(client, world, [event("e-1", sku="api-calls")])
    usage_event_reattribute(event=UsageEvent.objects.get(), sku=world.sku, actor=staff.user)
    response = post_usage(client, world, [event("e-1", sku="api-calls")])
    assert response.json()["results"] == [{"event_id": "e-1", "status": "duplicate"}]


def test_reattribution_refuses_what_would_stay_quarantined(client, staff):
    world = usage_world(required_tags=["cost_center"])
    post_usage(client, world, [event("e-1")])
    with pytest.raises(ValidationFailed) as err:
        usage_event_reattribute(event=UsageEvent.objects.get(), tags={"region": "eu"}, actor=staff.user)
    assert err.value.issues[0].message == "missing_required_tag: cost_center"
    assert UsageEvent.objects.get().status == "quarantined"


def test_reattribution_only_applies_to_quarantined_events(client, staff):
    world = usage_world()
    post_usage(client, world, [event("e-1")])
    with pytest.raises(StateError):
        usage_event_reattribute(event=UsageEvent.objects.get(), actor=staff.user)


def test_an_unknown_tenant_event_can_be_given_its_tenant(client, staff):
    world = usage_world(slug="acme")
    platform = api_key_create(tenant=None).secret
    post_usage(client, platform, [event("e-1", tenant="acme-typo")])
    fixed = usage_event_reattribute(event=UsageEvent.objects.get(), tenant=world.tenant, actor=staff.user)
    assert (fixed.status, fixed.tenant_id) == ("accepted", world.tenant.pk)


def test_the_admin_action_reattributes_from_the_codes_sent_once_they_exist(staff, client):
    world = usage_world()
    post_usage(client, world, [event("e-1", project="mobile"), event("e-2", sku="gpu_hours")])
    ProjectFactory.create(tenant=world.tenant, code="mobile")  # finance creates the missing project
    response = staff.client.post(
        "/admin/billing/usageevent/",
        {"action": "reattribute", "_selected_action": list(UsageEvent.objects.values_list("pk", flat=True))},
        follow=True,
    )
    assert response.status_code == 200
    assert dict(UsageEvent.objects.values_list("event_id", "status")) == {
        "e-1": "accepted",
        "e-2": "quarantined",
    }
    text = response.content.decode()
    assert "1 event(s) re-attributed" in text
    assert [str(m) for m in response.context["messages"]][1:] == ["e-2: unknown_sku"]


def test_the_admin_lists_quarantined_events_by_reason(staff, client):
    world = usage_world()
    sku_with_meter("gpu_hours")
    post_usage(client, world, [event("e-1", sku="gpu_hours"), event("e-2")])
    response = staff.client.get("/admin/billing/usageevent/?status__exact=quarantined")
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1
