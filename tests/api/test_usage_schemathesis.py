"""Schemathesis over the OpenAPI schema of the usage and quote endpoints: whatever the input, never a 5xx,
and every answer is the one the schema documents: its status code, its content type, its body (the error
shape too) and its headers (Retry-After on 429/503)."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.factories.usage import usage_env, usage_world

__all__ = ["usage_env"]

pytestmark = pytest.mark.usefixtures("usage_env")

SCHEMA = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
INGEST = SCHEMA["/api/v1/usage"]["POST"]
SUMMARY = SCHEMA["/api/v1/usage/summary"]["GET"]
QUOTE = SCHEMA["/api/v1/quotes"]["POST"]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
# Bounded: the seven tests together stay well under a minute on two cores.
FAST = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)


@pytest.fixture
def secret(db, settings):
    """Calls go through the WSGI app in-process; keep Django from closing the test's connection at the end
    of each request (the test client does the same). No rate limits: examples come faster than callers."""
    settings.USAGE_RATE_LIMIT_REQUESTS = 0
    settings.QUOTE_RATE_LIMIT = ""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield usage_world().secret
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def call_and_validate(case, secret):
    return case.call_and_validate(headers={"Authorization": f"Bearer {secret}"}, checks=CHECKS)


@FAST
@given(case=INGEST.as_strategy(generation_mode=GenerationMode.POSITIVE))
def test_valid_shaped_batches_get_documented_answers(secret, case):
    call_and_validate(case, secret)


@FAST
@given(case=INGEST.as_strategy(generation_mode=GenerationMode.NEGATIVE))
def test_malformed_batches_get_documented_answers(secret, case):
    call_and_validate(case, secret)


@FAST
@given(case=SUMMARY.as_strategy(generation_mode=GenerationMode.POSITIVE))
def test_summary_queries_get_documented_answers(secret, case):
    call_and_validate(case, secret)


@FAST
@given(case=SUMMARY.as_strategy(generation_mode=GenerationMode.NEGATIVE))
def test_malformed_summary_queries_get_documented_answers(secret, case):
    call_and_validate(case, secret)


@FAST
@given(case=QUOTE.as_strategy(generation_mode=GenerationMode.POSITIVE))
def test_valid_shaped_quotes_get_documented_answers(secret, case):
    call_and_validate(case, secret)


@FAST
@given(case=QUOTE.as_strategy(generation_mode=GenerationMode.NEGATIVE))
def test_malformed_quotes_get_documented_answers(secret, case):
    call_and_validate(case, secret)


@pytest.mark.parametrize("path", ["/api/v1/usage", "/api/v1/quotes"])
def test_a_call_without_a_key_gets_the_documented_401(db, path):
    case = SCHEMA[path]["POST"].Case(body={})

    response = case.call_and_validate(checks=CHECKS)

    assert response.status_code == 401
