"""POST /api/v1/quotes is bounded: body size, number of events, quantity magnitude, and a rate per caller."""

from __future__ import annotations

import io
import json
import time

import pytest
from django.test import override_settings

from billing.api.quotes import DecimalPreservingJSONParser, QuoteTooLarge
from tenants.services import api_key_create
from tests.factories import TenantFactory

pytestmark = pytest.mark.django_db

PER_UNIT = {"model": "per_unit", "unit_amount": "0.5"}
PERCENTAGE = {"model": "percentage", "rate": "2.9", "fixed_amount": "0.30"}
# A private in-process cache per test: throttle counters never meet another test's (or worker's).
LOCAL_CACHE = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "quotes"}}


def bearer(slug: str = "quoting") -> dict[str, str]:
    secret = api_key_create(tenant=TenantFactory.create(slug=slug)).secret
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def post_quote(client, auth, body, **extra):
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post("/api/v1/quotes", data=data, content_type="application/json", **auth, **extra)


@override_settings(QUOTE_MAX_BODY_BYTES=65_536)
def test_it_refuses_an_oversized_body_with_413_before_reading_it(client):
    auth = bearer()
    body = json.dumps({"price": PER_UNIT, "quantity": "1", "currency": "EUR", "pad": "x" * 20_000_000})

    started = time.perf_counter()
    response = post_quote(client, auth, body)
    elapsed = time.perf_counter() - started

    assert response.status_code == 413
    assert response.json() == {
        "error": "too_large",
        "message": "the request body is limited to 65536 bytes",
        "limit_bytes": 65_536,
    }
    assert elapsed < 1.0


def test_the_parser_stops_reading_at_the_limit_whatever_the_declared_length():
    stream = io.BytesIO(b'{"pad": "' + b"x" * 300_000 + b'"}')

    with override_settings(QUOTE_MAX_BODY_BYTES=1024), pytest.raises(QuoteTooLarge):
        DecimalPreservingJSONParser().parse(stream)

    assert stream.tell() == 1025


@override_settings(QUOTE_MAX_EVENTS=5)
def test_it_refuses_more_events_than_the_limit_naming_the_field(client):
    response = post_quote(client, bearer(), {"price": PERCENTAGE, "events": ["10"] * 6, "currency": "EUR"})

    assert response.status_code == 413
    assert response.json()["errors"] == [{"field": "events", "message": "at most 5 events per quote (got 6)"}]


@override_settings(QUOTE_MAX_EVENTS=5)
def test_it_quotes_exactly_the_limit_of_events(client):
    response = post_quote(client, bearer(), {"price": PERCENTAGE, "events": ["10"] * 5, "currency": "EUR"})

    assert (response.status_code, response.json()["amount"]) == (200, "2.95")


def test_the_default_limits_take_ten_thousand_events(client):
    response = post_quote(
        client, bearer(), {"price": PERCENTAGE, "events": ["12345.67"] * 10_000, "currency": "EUR"}
    )

    assert response.status_code == 200


def test_it_refuses_quantities_of_the_ingest_bound_or_more_naming_each(client):
    body = {
        "price": PERCENTAGE,
        "quantity": "1000000000000000",
        "events": ["1", "-1000000000000000", "999999999999999.999"],
        "currency": "EUR",
    }

    response = post_quote(client, bearer(), body)

    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["quantity", "events[1]"]


@override_settings(QUOTE_RATE_LIMIT="3/min", CACHES=LOCAL_CACHE)
def test_the_fourth_quote_in_a_minute_is_429_with_retry_after(client):
    auth = bearer()
    body = {"price": PER_UNIT, "quantity": "4", "currency": "EUR"}

    statuses = [post_quote(client, auth, body).status_code for _ in range(3)]
    refused = post_quote(client, auth, body)

    assert statuses == [200, 200, 200]
    assert refused.status_code == 429
    assert refused.json()["error"] == "backpressure"
    assert 1 <= int(refused["Retry-After"]) <= 60


@override_settings(QUOTE_RATE_LIMIT="1/min", CACHES=LOCAL_CACHE)
def test_the_rate_is_per_caller(client):
    body = {"price": PER_UNIT, "quantity": "4", "currency": "EUR"}
    first, second = bearer("first"), bearer("second")

    assert post_quote(client, first, body).status_code == 200
    assert post_quote(client, first, body).status_code == 429
    assert post_quote(client, second, body).status_code == 200


@override_settings(
    QUOTE_RATE_LIMIT="1/min",
    CACHES={
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    },
)
def test_the_rate_limit_fails_open_when_the_cache_is_down(client):
    auth = bearer()
    body = {"price": PER_UNIT, "quantity": "4", "currency": "EUR"}

    assert [post_quote(client, auth, body).status_code for _ in range(2)] == [200, 200]
