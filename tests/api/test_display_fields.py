"""API display fields (`*_display`): the rounded amount as a person reads it, in the Accept-Language the
caller asks for, else the tenant's document locale, else English. The exact decimal strings stay."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import override_settings
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from billing.api.display import display_locale
from billing.rating.services import usage_rate_pending
from billing.usage.ingest import usage_ingest
from tenants.models import Tenant
from tenants.services import api_key_create
from tests.factories import TenantFactory
from tests.factories.usage import event, usage_env, usage_world

__all__ = ["usage_env"]

pytestmark = pytest.mark.django_db

NBSP = "\xa0"
LOCAL_CACHE = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "display"}}
QUOTE = {"price": {"model": "per_unit", "unit_amount": "0.5"}, "quantity": "2469", "currency": "EUR"}


def _auth(tenant: Tenant | None) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {api_key_create(tenant=tenant).secret}"}


def _quote(client: Any, auth: dict[str, str], body: dict[str, Any] = QUOTE, **headers: str) -> Any:
    with override_settings(CACHES=LOCAL_CACHE):
        return client.post(
            "/api/v1/quotes", data=json.dumps(body), content_type="application/json", **auth, **headers
        )


def test_a_quote_shows_its_rounded_amount_for_display_in_english_by_default(client):
    response = _quote(client, _auth(None))

    body = response.json()
    assert (body["amount"], body["amount_rounded"], body["amount_display"]) == (
        "1234.5",
        "1234.50",
        "€1,234.50",
    )
    assert list(body) == ["amount", "amount_rounded", "amount_display", "currency", "breakdown"]
    assert "Accept-Language" in response["Vary"]


def test_a_quote_uses_the_tenants_document_locale(client):
    tenant = TenantFactory.create(slug="berlin", locale="de_DE")

    body = _quote(client, _auth(tenant)).json()

    assert body["amount_display"] == f"1.234,50{NBSP}€"


def test_accept_language_wins_over_the_tenants_locale(client):
    tenant = TenantFactory.create(slug="berlin", locale="de_DE")

    body = _quote(client, _auth(tenant), HTTP_ACCEPT_LANGUAGE="fr;q=0.5, en-US, *").json()

    assert body["amount_display"] == "€1,234.50"


def test_a_yen_quote_has_no_decimals(client):
    body = _quote(client, _auth(None), {**QUOTE, "currency": "JPY"}, HTTP_ACCEPT_LANGUAGE="ja-JP").json()

    assert (body["amount_rounded"], body["amount_display"]) == ("1235", "￥1,235")


@pytest.mark.parametrize(
    ("header", "locale"),
    [
        ("", "de_DE"),
        ("xx-YY", "de_DE"),  # unknown: the tenant's
        ("xx-YY, ja;q=0.1", "ja"),
        ("en;q=0.2, fr-CH;q=0.9", "fr_CH"),
        ("*", "de_DE"),
        ("de;q=0", "de_DE"),
        ("en;q=abc, ja", "ja"),
        (";;;,,", "de_DE"),
    ],
)
def test_the_display_locale(header, locale):
    request = APIRequestFactory().get("/", HTTP_ACCEPT_LANGUAGE=header)
    tenant = Tenant(locale="de_DE")

    assert display_locale(Request(request), tenant) == locale


def test_without_tenant_or_header_the_display_locale_is_english():
    assert display_locale(Request(APIRequestFactory().get("/")), None) == "en"


@pytest.mark.usefixtures("usage_env")
def test_the_usage_summary_shows_display_amounts_in_the_tenants_locale(client):
    world = usage_world()
    Tenant.objects.filter(pk=world.tenant.pk).update(locale="de_DE")
    with override_settings(CELERY_TASK_ALWAYS_EAGER=True):
        usage_ingest(
            tenant=world.tenant, events=[event("a", timestamp="2026-11-02T10:00:00Z", quantity="12345.5")]
        )
        usage_rate_pending()

    body = client.get("/api/v1/usage/summary", **world.auth()).json()

    assert body["lines"][0]["estimated_amount_display"] == f"1.234,55{NBSP}€"
    assert body["estimated_total_display"] == f"1.234,55{NBSP}€"
    assert body["estimated_total"] == "1234.550000000000"
