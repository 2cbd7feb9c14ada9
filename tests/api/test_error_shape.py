"""Every error the API answers has one shape, `{"error": <code>, "message": ..., ...}` (common.errors.
error_body), whoever produces it: a domain error, DRF (authentication, content type, method, parsing,
throttling), or Django itself (no such URL, a bad Host) under /api/."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.http import Http404
from django.test import Client, RequestFactory, override_settings
from rest_framework import exceptions
from rest_framework.test import APIClient

from common.api import bad_request, exception_handler, page_not_found, permission_denied, server_error
from tenants.services import api_key_create
from tests.factories import UserFactory
from tests.factories.usage import UsageWorld, event, post_usage, usage_env, usage_world
from tests.pricing.helpers import GRADUATED_QUOTE

__all__ = ["usage_env"]

pytestmark = pytest.mark.usefixtures("usage_env")

LOCAL_CACHE = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "errors"}}
SHAPE_KEYS = {"error", "message", "errors", "retry_after", "limit", "limit_bytes"}  # ErrorOut


@dataclass
class World:
    client: Client
    usage: UsageWorld
    platform: str

    def bearer(self, secret: str | None = None) -> dict[str, Any]:
        return {"HTTP_AUTHORIZATION": f"Bearer {secret or self.usage.secret}"}

    def post(self, path: str, body: Any, *, content_type: str = "application/json", **extra: Any) -> Any:
        data = body if isinstance(body, (str, bytes)) else json.dumps(body)
        return self.client.post(path, data=data, content_type=content_type, **{**self.bearer(), **extra})


def session_without_csrf(world: World) -> Any:
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(UserFactory.create(username="someone"))
    return client.post("/api/v1/quotes", GRADUATED_QUOTE, format="json")


def rate_limited_usage(world: World) -> Any:
    with override_settings(USAGE_RATE_LIMIT_REQUESTS=1, CACHES=LOCAL_CACHE):
        post_usage(world.client, world.usage, [event("e-1")])
        return post_usage(world.client, world.usage, [event("e-2")])


def rate_limited_quote(world: World) -> Any:
    with override_settings(QUOTE_RATE_LIMIT="1/min", CACHES=LOCAL_CACHE):
        world.post("/api/v1/quotes", GRADUATED_QUOTE)
        return world.post("/api/v1/quotes", GRADUATED_QUOTE)


def idempotency_conflict(world: World) -> Any:
    post_usage(world.client, world.usage, [event("e-1")], HTTP_IDEMPOTENCY_KEY="k-1")
    return post_usage(world.client, world.usage, [event("e-2")], HTTP_IDEMPOTENCY_KEY="k-1")


def too_many_events(world: World) -> Any:
    with override_settings(USAGE_BATCH_MAX_EVENTS=1):
        return post_usage(world.client, world.usage, [event("e-1"), event("e-2")])


def too_many_quote_events(world: World) -> Any:
    with override_settings(QUOTE_MAX_EVENTS=1):
        body = {"price": {"model": "percentage", "rate": "1"}, "events": ["1", "2"], "currency": "EUR"}
        return world.post("/api/v1/quotes", body)


Case = Callable[[World], Any]
USAGE, SUMMARY, QUOTES = "/api/v1/usage", "/api/v1/usage/summary", "/api/v1/quotes"

CASES: list[tuple[str, int, str, Case]] = [
    # POST /api/v1/usage
    ("usage-no-key", 401, "not_authenticated", lambda w: w.client.post(USAGE, "{}", "application/json")),
    (
        "usage-unknown-key",
        401,
        "authentication_failed",
        lambda w: w.post(USAGE, {"events": []}, **w.bearer("nope")),
    ),
    (
        "usage-not-bearer",
        401,
        "authentication_failed",
        lambda w: w.post(USAGE, {"events": []}, HTTP_AUTHORIZATION="Token abc"),
    ),
    (
        "usage-not-json",
        415,
        "unsupported_media_type",
        lambda w: w.post(USAGE, "x", content_type="text/plain"),
    ),
    (
        "usage-charset",
        415,
        "unsupported_media_type",
        lambda w: w.post(USAGE, {"events": []}, content_type="application/json; charset=latin-1"),
    ),
    ("usage-get", 405, "method_not_allowed", lambda w: w.client.get(USAGE, **w.bearer())),
    ("usage-malformed-json", 400, "invalid", lambda w: w.post(USAGE, "{oops")),
    ("usage-duplicate-key", 400, "invalid", lambda w: w.post(USAGE, '{"events": [], "events": []}')),
    ("usage-utf16", 400, "invalid", lambda w: w.post(USAGE, '{"events": []}'.encode("utf-16"))),
    ("usage-not-a-batch", 400, "invalid", lambda w: w.post(USAGE, {"event": []})),
    (
        "usage-long-idempotency-key",
        400,
        "invalid",
        lambda w: w.post(USAGE, {"events": []}, HTTP_IDEMPOTENCY_KEY="k" * 256),
    ),
    (
        "usage-chunked-not-dechunked",  # Django's development server: no wsgi.input_terminated
        411,
        "length_required",
        lambda w: w.post(USAGE, {"events": []}, CONTENT_LENGTH="", HTTP_TRANSFER_ENCODING="chunked"),
    ),
    ("usage-other-tenant", 403, "forbidden", lambda w: w.post(USAGE, {"events": [event(tenant="globex")]})),
    ("usage-idempotency-conflict", 409, "idempotency_conflict", idempotency_conflict),
    ("usage-too-many-events", 413, "batch_too_large", too_many_events),
    ("usage-rate-limit", 429, "backpressure", rate_limited_usage),
    # GET /api/v1/usage/summary
    ("summary-no-key", 401, "not_authenticated", lambda w: w.client.get(SUMMARY)),
    (
        "summary-platform-without-tenant",
        400,
        "invalid",
        lambda w: w.client.get(SUMMARY, **w.bearer(w.platform)),
    ),
    (
        "summary-other-tenant",
        404,
        "not_found",
        lambda w: w.client.get(SUMMARY, {"tenant": "globex"}, **w.bearer()),
    ),
    ("summary-bad-period", 400, "invalid", lambda w: w.client.get(SUMMARY, {"period": "soon"}, **w.bearer())),
    ("summary-post", 405, "method_not_allowed", lambda w: w.post(SUMMARY, {})),
    # POST /api/v1/quotes
    ("quote-no-key", 401, "not_authenticated", lambda w: w.client.post(QUOTES, "{}", "application/json")),
    (
        "quote-unknown-key",
        401,
        "authentication_failed",
        lambda w: w.post(QUOTES, GRADUATED_QUOTE, **w.bearer("x")),
    ),
    ("quote-session-without-csrf", 403, "forbidden", session_without_csrf),
    (
        "quote-invalid-field",
        400,
        "invalid",
        lambda w: w.post(QUOTES, {**GRADUATED_QUOTE, "currency": "XXX1"}),
    ),
    ("quote-malformed-json", 400, "invalid", lambda w: w.post(QUOTES, "{oops")),
    ("quote-utf32", 400, "invalid", lambda w: w.post(QUOTES, json.dumps(GRADUATED_QUOTE).encode("utf-32"))),
    (
        "quote-not-json",
        415,
        "unsupported_media_type",
        lambda w: w.post(QUOTES, "x", content_type="text/plain"),
    ),
    ("quote-get", 405, "method_not_allowed", lambda w: w.client.get(QUOTES, **w.bearer())),
    ("quote-too-many-events", 413, "too_large", too_many_quote_events),
    ("quote-rate-limit", 429, "backpressure", rate_limited_quote),
    # Django's own answers under /api/
    ("no-such-endpoint", 404, "not_found", lambda w: w.client.get("/api/v1/nope")),
    ("trailing-slash", 404, "not_found", lambda w: w.post("/api/v1/usage/", {"events": []})),
    ("schema-typo", 404, "not_found", lambda w: w.client.get("/api/schemas/")),
    ("disallowed-host", 400, "bad_request", lambda w: w.client.get(SUMMARY, HTTP_HOST="evil.example")),
]


@pytest.fixture
def world(client: Client) -> World:
    usage = usage_world()
    usage_world(slug="globex")
    return World(client=client, usage=usage, platform=api_key_create(tenant=None).secret)


def assert_error_shape(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = json.loads(response.content)
    assert isinstance(body, dict)
    assert set(body) <= SHAPE_KEYS, body
    assert body["error"] == code
    assert isinstance(body["message"], str)
    assert body["message"]
    for issue in body.get("errors", []):
        assert set(issue) == {"field", "message"}
        assert all(isinstance(v, str) for v in issue.values())
    return body


@pytest.mark.parametrize(("status", "code", "case"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_every_api_error_has_the_one_shape(world, status, code, case):
    body = assert_error_shape(case(world), status, code)

    if status == 429:
        assert body["retry_after"] >= 1


def test_a_429_says_retry_after_in_its_header_too(world):
    response = rate_limited_usage(world)

    assert response["Retry-After"] == str(response.json()["retry_after"])


def test_a_401_keeps_its_www_authenticate_header(world):
    assert world.client.post(USAGE, "{}", "application/json")["WWW-Authenticate"] == "Bearer"


def test_a_quote_error_names_its_fields(world):
    body = world.post(QUOTES, {**GRADUATED_QUOTE, "currency": "XXX1"}).json()

    assert body["errors"][0]["field"] == "currency"
    assert body["message"] == f"currency: {body['errors'][0]['message']}"


# --- the handlers themselves ----------------------------------------------------------------------------


def test_serializer_errors_become_field_issues():
    exc = exceptions.ValidationError(
        {"events": [{"sku": ["This field is required."]}, {}], "non_field_errors": ["x"]}
    )

    response = exception_handler(exc, {})
    assert response is not None

    assert (response.status_code, response.data) == (
        400,
        {
            "error": "invalid",
            "message": "2 invalid fields",
            "errors": [
                {"field": "events[0].sku", "message": "This field is required."},
                {"field": "", "message": "x"},
            ],
        },
    )


def test_a_single_serializer_error_is_the_message():
    response = exception_handler(exceptions.ValidationError({"period": ["bad period"]}), {})
    assert response is not None

    assert response.data == {
        "error": "invalid",
        "message": "period: bad period",
        "errors": [{"field": "period", "message": "bad period"}],
    }


@pytest.mark.parametrize(
    ("exc", "status", "body"),
    [
        (exceptions.Throttled(wait=2.5), 429, {"error": "throttled", "retry_after": 3}),
        (exceptions.NotFound(), 404, {"error": "not_found"}),
        (Http404(), 404, {"error": "not_found"}),
        (exceptions.PermissionDenied(), 403, {"error": "forbidden"}),
        (exceptions.ParseError("bad"), 400, {"error": "invalid", "message": "bad"}),
        (exceptions.NotAcceptable(), 406, {"error": "not_acceptable"}),
    ],
)
def test_drf_exceptions_map_to_the_shape(exc, status, body):
    response = exception_handler(exc, {})
    assert response is not None

    assert response.status_code == status
    assert set(response.data) <= SHAPE_KEYS
    assert isinstance(response.data["message"], str)
    assert {key: response.data[key] for key in body} == body


def test_an_unexpected_error_is_left_to_django():
    assert exception_handler(RuntimeError("boom"), {}) is None


@pytest.mark.parametrize(
    ("handler", "status", "code"),
    [
        (lambda r: bad_request(r, Exception()), 400, "bad_request"),
        (lambda r: permission_denied(r, Exception()), 403, "forbidden"),
        (lambda r: page_not_found(r, Http404()), 404, "not_found"),
        (server_error, 500, "server_error"),
    ],
    ids=["400", "403", "404", "500"],
)
def test_django_error_views_answer_json_under_api_and_html_elsewhere(handler, status, code):
    api, page = RequestFactory().get("/api/v1/x"), RequestFactory().get("/portal/x")

    assert_error_shape(handler(api), status, code)
    assert handler(page).status_code == status
    assert handler(page)["Content-Type"].startswith("text/html")


def test_an_unknown_page_outside_the_api_is_still_html(client):
    response = client.get("/nope")

    assert (response.status_code, response["Content-Type"].startswith("text/html")) == (404, True)
