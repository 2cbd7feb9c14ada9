"""POST /api/v1/quotes by a stored price list ({"profile", "sku"}) reads only the price list of a tenant
the caller acts for, resolved for that tenant at `at` by the one rule (VersionTimeline: canary cohorts
included). Another tenant's profile answers as an unknown one (invariant 8)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from billing.governance.rollouts import rollout_schedule
from tenants.models import Role
from tenants.services import api_key_create
from tests.factories import ApprovedVersionFactory, TenantFactory, UserFactory, finance_user
from tests.factories.ledger import document, world

pytestmark = pytest.mark.django_db


def _auth(tenant=None) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {api_key_create(tenant=tenant).secret}"}


def _quote(client, body, auth=None):
    return client.post(
        "/api/v1/quotes", data=json.dumps(body), content_type="application/json", **(auth or {})
    )


def _ask(profile: str, **extra: str) -> dict[str, str]:
    return {"profile": profile, "sku": "api_calls", "quantity": "30", **extra}


def test_another_tenants_key_cannot_read_a_price_list_it_is_not_on(client):
    acme = world()
    other = TenantFactory.create(slug="other")

    response = _quote(client, _ask(acme.profile.code), _auth(other))

    assert response.status_code == 404
    assert response.json()["errors"] == [{"field": "profile", "message": "unknown profile"}]


def test_a_tenant_key_quotes_its_own_price_list(client):
    acme = world()

    response = _quote(client, _ask(acme.profile.code), _auth(acme.tenant))

    assert response.status_code == 200, response.json()
    assert (response.json()["amount_rounded"], response.json()["currency"]) == ("3.00", "EUR")


def test_a_tenant_key_cannot_name_another_tenant(client):
    acme = world()
    other = world(slug="other")

    response = _quote(client, _ask(other.profile.code, tenant="other"), _auth(acme.tenant))

    assert response.status_code == 404
    assert response.json()["errors"] == [{"field": "tenant", "message": "unknown tenant"}]


def test_a_platform_key_names_the_tenant(client):
    acme = world()

    missing = _quote(client, _ask(acme.profile.code), _auth())
    named = _quote(client, _ask(acme.profile.code, tenant="acme"), _auth())

    assert missing.status_code == 400
    assert missing.json()["errors"] == [
        {"field": "tenant", "message": "is required with profile for this caller"}
    ]
    assert named.status_code == 200, named.json()
    assert named.json()["amount_rounded"] == "3.00"


def test_finance_quotes_any_tenant_and_a_stranger_none(client):
    acme = world()

    client.force_login(finance_user(Role.FINANCE_VIEWER))
    as_finance = _quote(client, _ask(acme.profile.code, tenant="acme"))
    client.force_login(UserFactory.create())
    as_stranger = _quote(client, _ask(acme.profile.code, tenant="acme"))

    assert as_finance.status_code == 200, as_finance.json()
    assert as_stranger.status_code == 404


def test_a_profile_the_tenant_is_not_on_is_unknown_even_to_a_platform_key(client):
    world()
    other = world(slug="other")

    response = _quote(client, _ask(other.profile.code, tenant="acme"), _auth())

    assert response.status_code == 404


def test_a_canary_cohort_tenant_is_quoted_the_canarys_price(client):
    acme = world(effective_from=datetime(2030, 1, 1, tzinfo=UTC))
    beta = TenantFactory.create(slug="beta")
    from tests.factories import ProfileAssignmentFactory

    ProfileAssignmentFactory.create(
        tenant=beta, profile=acme.profile, effective_from=acme.version.effective_from
    )
    canary_at = datetime(2031, 3, 10, tzinfo=UTC)
    body = document(
        acme.profile.code, prices=[{"sku": "api_calls", "model": "per_unit", "unit_amount": "0.20"}]
    )
    canary = ApprovedVersionFactory.create(
        profile=acme.profile, number=2, effective_from=canary_at, body=body
    )
    rollout_schedule(
        version=canary,
        actor=finance_user(),
        tenants=[acme.tenant],
        max_bill_change_pct="150",
        max_disputes=0,
        now=canary_at - timedelta(days=1),
    )
    at = (canary_at + timedelta(days=1)).isoformat()

    in_cohort = _quote(client, _ask(acme.profile.code, at=at), _auth(acme.tenant))
    outside = _quote(client, _ask(acme.profile.code, at=at), _auth(beta))

    assert (in_cohort.status_code, outside.status_code) == (200, 200)
    assert (in_cohort.json()["amount_rounded"], outside.json()["amount_rounded"]) == ("6.00", "3.00")
