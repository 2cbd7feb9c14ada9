"""Schemathesis over the OpenAPI schema of the usage endpoints: whatever the body, never a 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from tests.factories.usage import usage_env, usage_world

__all__ = ["usage_env"]

pytestmark = pytest.mark.usefixtures("usage_env")

SCHEMA = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
INGEST = SCHEMA["/api/v1/usage"]["POST"]
SUMMARY = SCHEMA["/api/v1/usage/summary"]["GET"]
FAST = settings(
    max_examples=60,
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
    of each request (the test client does the same)."""
    settings.USAGE_RATE_LIMIT_REQUESTS = 0
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield usage_world().secret
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@FAST
@given(case=INGEST.as_strategy(generation_mode=GenerationMode.POSITIVE))
def test_valid_shaped_batches_never_get_a_5xx(secret, case):
    response = case.call(headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code < 500, response.text


@FAST
@given(case=INGEST.as_strategy(generation_mode=GenerationMode.NEGATIVE))
def test_malformed_batches_never_get_a_5xx(secret, case):
    response = case.call(headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code < 500, response.text


@FAST
@given(case=SUMMARY.as_strategy())
def test_summary_queries_never_get_a_5xx(secret, case):
    response = case.call(headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code < 500, response.text
