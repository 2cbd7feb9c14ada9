"""A closed tenant sends no more usage; a suspended one still does (its usage stays billable)."""

from __future__ import annotations

import pytest

from billing.usage.models import UsageEvent
from tenants.models import Tenant
from tenants.services import api_key_create
from tests.factories.usage import event, post_usage, usage_env, usage_world

__all__ = ["usage_env"]

pytestmark = pytest.mark.usefixtures("usage_env")


def _set_status(tenant: Tenant, status: str) -> None:
    tenant.status = status
    tenant.save(update_fields=["status"])


def test_a_closed_tenants_key_is_refused_and_nothing_is_stored(client):
    world = usage_world()
    _set_status(world.tenant, Tenant.Status.CLOSED)

    response = post_usage(client, world, [event("e-1")])

    assert response.status_code == 403
    assert response.json()["message"] == "tenant 'acme' is closed: it can no longer send usage"
    assert not UsageEvent.objects.exists()


def test_a_platform_key_naming_a_closed_tenant_gets_that_event_rejected(client):
    usage_world(slug="acme")
    closed = usage_world(slug="globex")
    _set_status(closed.tenant, Tenant.Status.CLOSED)
    platform = api_key_create(tenant=None).secret

    response = post_usage(client, platform, [event("e-1", tenant="acme"), event("e-2", tenant="globex")])

    assert response.status_code == 200
    assert [(r["status"], r.get("reason", "")) for r in response.json()["results"]] == [
        ("accepted", ""),
        ("rejected", "tenant_closed"),
    ]
    assert list(UsageEvent.objects.values_list("event_id", flat=True)) == ["e-1"]


def test_a_suspended_tenant_still_sends_usage(client):
    world = usage_world()
    _set_status(world.tenant, Tenant.Status.SUSPENDED)

    response = post_usage(client, world, [event("e-1")])

    assert response.json()["results"] == [{"event_id": "e-1", "status": "accepted"}]
