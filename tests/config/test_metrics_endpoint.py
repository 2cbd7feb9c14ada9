"""`/metrics` (config.metrics): who may read it (a bearer token, or an allowed internal address; nobody
when neither is set), what it serves (the process's metrics and the scrape-time gauges of
billing.observability.collector, with their values), and how the collector fails soft."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import pytest
import redis
import time_machine
from django.conf import settings
from django.db import DatabaseError
from django.test import Client, override_settings
from prometheus_client.parser import text_string_to_metric_families

from billing.close.services import close_period
from billing.usage.ingest import usage_ingest
from ledger.models import Alert
from ledger.services.alerts import alert_raise
from tenants.models import Role
from tenants.services import membership_grant
from tests.billing.test_redis_outage import private_redis
from tests.factories import UserFactory
from tests.factories.ledger import after_grace, usage, world
from tests.factories.usage import NOW, event, usage_env, usage_world

TOKEN = "s3cret-metrics-token"

__all__ = ["private_redis", "usage_env"]

pytestmark = pytest.mark.django_db


def scrape(client: Client | None = None, **headers: Any) -> Any:
    return (client or Client()).get("/metrics", headers=headers)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(text: str, name: str, **labels: str) -> float | None:
    return samples(text).get((name, tuple(sorted(labels.items()))))


def authorized() -> str:
    with override_settings(METRICS_TOKEN=TOKEN):
        response = scrape(Authorization=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content
    return str(response.content.decode())


# --- who may read it -----------------------------------------------------------------------------------


@override_settings(METRICS_TOKEN=TOKEN)
def test_it_serves_the_metrics_to_the_bearer_of_the_token():
    response = scrape(Authorization=f"Bearer {TOKEN}")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "billing_rating_pending_events" in response.content.decode()
    assert "no-cache" in response["Cache-Control"]


@override_settings(METRICS_TOKEN=TOKEN)
def test_it_refuses_a_caller_without_credentials_with_401():
    response = scrape()

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert b"billing_" not in response.content


@override_settings(METRICS_TOKEN=TOKEN)
@pytest.mark.parametrize("header", [f"Bearer {TOKEN}x", "Bearer ", f"Basic {TOKEN}", TOKEN])
def test_it_refuses_a_wrong_token_with_403(header):
    response = scrape(Authorization=header)

    assert response.status_code == 403
    assert b"billing_" not in response.content


@override_settings(METRICS_TOKEN="")
def test_without_a_token_configured_it_refuses_every_token():
    assert scrape(Authorization="Bearer ").status_code == 403
    assert scrape(Authorization="Bearer anything").status_code == 403
    assert scrape().status_code == 401


@override_settings(METRICS_TOKEN=TOKEN)
def test_a_signed_in_customer_or_staff_user_gets_no_metrics():
    customer = UserFactory.create(username="metrics-curious")
    membership_grant(user=customer, role=Role.CUSTOMER_ADMIN, tenant=usage_world().tenant)
    staff = UserFactory.create(username="metrics-staff", is_staff=True, is_superuser=True)
    for user in (customer, staff):
        client = Client()
        client.force_login(user)

        response = scrape(client)

        assert (response.status_code, b"billing_" in response.content) == (401, False)


@override_settings(METRICS_TOKEN="", METRICS_ALLOW_INTERNAL=["10.0.0.0/8", "127.0.0.1/32"])
def test_an_allowed_internal_address_reads_without_a_token_and_others_do_not():
    assert Client(REMOTE_ADDR="10.20.30.40").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="192.168.1.10").get("/metrics").status_code == 401
    assert (
        Client(REMOTE_ADDR="10.20.30.40").get("/metrics", headers={"Authorization": "Bearer x"}).status_code
        == 403
    )


@override_settings(METRICS_TOKEN=TOKEN)
def test_it_answers_get_only():
    response = Client().post("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})

    assert response.status_code == 405


def test_the_settings_refuse_a_malformed_allow_list_entry():
    env = {**os.environ, "METRICS_ALLOW_INTERNAL": "10.0.0.0/8,10.0.0.0/33"}
    run = subprocess.run(
        [sys.executable, "-c", "import config.settings.base"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )

    assert run.returncode == 1
    assert "'10.0.0.0/33' does not appear to be an IPv4 or IPv6 network" in run.stderr


# --- what it serves --------------------------------------------------------------------------------------


def test_it_serves_the_pipeline_lag_and_the_queue_depth(usage_env):
    w = usage_world()
    usage_ingest(tenant=w.tenant, events=[event("a"), event("b"), event("c")])  # stored, not rated yet
    with time_machine.travel(NOW + timedelta(seconds=95), tick=False):
        text = authorized()

    assert value(text, "billing_rating_oldest_pending_age_seconds") == 95.0
    assert value(text, "billing_rating_pending_events") == 3.0
    assert value(text, "billing_rating_backlog_limit_events") == float(settings.USAGE_BACKLOG_MAX_PENDING)
    assert value(text, "billing_metrics_source_up", source="database") == 1.0


def test_the_pipeline_lag_is_zero_when_nothing_waits():
    text = authorized()

    assert value(text, "billing_rating_oldest_pending_age_seconds") == 0.0
    assert value(text, "billing_rating_pending_events") == 0.0


def test_it_counts_quarantined_events_held_by_reason(usage_env):
    w = usage_world()
    usage_ingest(tenant=w.tenant, events=[event("a", sku="no_such_sku"), event("b", sku="nor_this_one")])

    text = authorized()

    assert value(text, "billing_quarantine_held_events", reason="unknown_sku") == 2.0
    assert value(text, "billing_quarantine_held_events", reason="unknown_tenant") == 0.0


def test_it_counts_blocked_invoices_by_the_kind_of_their_reason():
    w = world(slug="untaxed", prices=[{"sku": "widgets", "model": "per_unit", "unit_amount": "2"}])
    usage(w.tenant, "widgets", w.version, datetime(2026, 11, 5, 10, tzinfo=UTC), "5")
    result = close_period(tenant=w.tenant, period_key="2026-11", now=after_grace())  # no tax rule: blocked
    assert result.status == "blocked", result

    text = authorized()

    assert value(text, "billing_invoices_blocked", reason="tax_rule") == 1.0
    assert value(text, "billing_invoices_blocked", reason="fx_rate") == 0.0


def test_it_counts_open_alerts_by_kind():
    alert_raise(kind=Alert.Kind.PDF, tenant_id=None, message="INV-1 refused")
    alert_raise(kind=Alert.Kind.PDF, tenant_id=None, message="INV-2 refused")
    alert_raise(kind=Alert.Kind.LEDGER, tenant_id=None, message="chain")

    text = authorized()

    assert value(text, "billing_alerts_open", kind="pdf") == 2.0
    assert value(text, "billing_alerts_open", kind="ledger") == 1.0
    assert value(text, "billing_alerts_open", kind="rating") == 0.0


def test_it_reads_the_celery_queue_length_from_redis(private_redis):
    url, _server = private_redis
    redis.Redis.from_url(url).rpush(settings.METRICS_CELERY_QUEUE, "a", "b")
    with override_settings(CELERY_BROKER_URL=url):
        text = authorized()

    assert value(text, "billing_celery_queue_messages", queue="celery") == 2.0
    assert value(text, "billing_metrics_source_up", source="redis") == 1.0


def test_an_unreachable_redis_fails_soft():
    with override_settings(CELERY_BROKER_URL="redis://127.0.0.1:1/0"):
        text = authorized()

    assert value(text, "billing_metrics_source_up", source="redis") == 0.0
    assert "billing_celery_queue_messages{" not in text
    assert value(text, "billing_rating_pending_events") == 0.0  # the database's part is still there


def test_a_database_that_cannot_be_read_fails_soft():
    with mock.patch("billing.observability.collector.read_database", side_effect=DatabaseError("gone")):
        text = authorized()

    assert value(text, "billing_metrics_source_up", source="database") == 0.0
    assert value(text, "billing_rating_pending_events") is None  # left out, never reported as 0
    assert value(text, "billing_usage_ingest_seconds_count") is not None  # the process's metrics are there


def test_it_serves_the_gauges_this_process_sets():
    from common import metrics

    metrics.RECONCILIATION_DELTA.labels(check="invoices_vs_ledger").set(12.5)
    first = value(authorized(), "billing_reconciliation_delta", check="invoices_vs_ledger")
    metrics.RECONCILIATION_DELTA.labels(check="invoices_vs_ledger").set(0)

    assert (first, value(authorized(), "billing_reconciliation_delta", check="invoices_vs_ledger")) == (
        12.5,
        0.0,
    )
