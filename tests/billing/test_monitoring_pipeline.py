"""Pipeline alerts (billing.monitoring.pipeline): rating lag, backlog near the backpressure limit, blocked
invoices and closes, and each tenant's quarantine rate; fired and resolved with their thresholds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import override_settings

from billing.catalog.models import Sku
from billing.monitoring.pipeline import pipeline_evaluate
from billing.observability.collector import blocked_kind
from billing.usage.models import RatingBatch, UsageEvent
from ledger.alerts.services import alert_fire, alert_resolve
from ledger.models import Alert
from tests.factories.ledger import usage, world
from tests.factories.usage import stored_pending_event

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)


def _platform(kind: str) -> Alert | None:
    return Alert.objects.filter(kind=kind, tenant__isnull=True).exclude(state=Alert.State.RESOLVED).first()


def test_rating_lag_above_the_threshold_fires_and_resolves_once_rated() -> None:
    w = world()
    event = stored_pending_event(
        w.tenant, Sku.objects.get(code="api_calls"), "e-1", timestamp=NOW - timedelta(minutes=10)
    )
    run = pipeline_evaluate(now=NOW)
    alert = _platform(Alert.Kind.PIPELINE_LAG)
    assert alert is not None
    assert (run.firing, alert.severity, alert.details) == (
        ["rating_lag"],
        "warning",
        {"oldest_unrated_age_seconds": 600, "threshold_seconds": 300},
    )
    assert event.rating_batch_id is not None
    RatingBatch.objects.filter(pk=event.rating_batch_id).update(status=RatingBatch.Status.RATED, rated_at=NOW)
    pipeline_evaluate(now=NOW)
    alert.refresh_from_db()
    assert alert.state == "resolved"


@override_settings(USAGE_BACKLOG_MAX_PENDING=10)
def test_a_backlog_at_80_percent_of_the_limit_fires() -> None:
    w = world()
    sku = Sku.objects.get(code="api_calls")
    for i in range(7):
        stored_pending_event(w.tenant, sku, f"e-{i}", timestamp=NOW)
    pipeline_evaluate(now=NOW)
    assert _platform(Alert.Kind.BACKLOG) is None  # 7 < 8
    stored_pending_event(w.tenant, sku, "e-8", timestamp=NOW)
    pipeline_evaluate(now=NOW)
    alert = _platform(Alert.Kind.BACKLOG)
    assert alert is not None
    assert alert.message == "8 events wait for rating: the backpressure limit is 10 (alert at 8)."


def test_blocked_closes_are_counted_by_cause_and_resolve_with_them() -> None:
    w = world()
    alert_fire(kind=Alert.Kind.SIGNATURE, tenant_id=w.tenant.pk, key="v1", message="period blocked", now=NOW)
    pipeline_evaluate(now=NOW)
    alert = _platform(Alert.Kind.INVOICE_BLOCKED)
    assert alert is not None
    assert (alert.message, alert.details) == (
        "1 invoices or closes are blocked (signature 1).",
        {"blocked": 1, "by_cause": {"signature": 1}},
    )
    alert_resolve(kind=Alert.Kind.SIGNATURE, tenant_id=w.tenant.pk, key="v1", now=NOW)
    pipeline_evaluate(now=NOW)
    alert.refresh_from_db()
    assert alert.state == "resolved"


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        ("no tax rule for DE on 2026-11-30; no exchange rate", "tax_rule"),
        ("no exchange rate USD->EUR on 2026-11-30", "fx_rate"),
        ("profile version 3: signature does not verify", "signature"),
        ("something else", "other"),
    ],
)
def test_a_blocked_reason_is_counted_under_its_first_cause(reason: str, kind: str) -> None:
    assert blocked_kind(reason) == kind


def _quarantined(tenant: Any, n: int, *, at: datetime) -> None:
    UsageEvent.objects.bulk_create(
        UsageEvent(
            tenant=tenant,
            event_id=f"q-{i}",
            sku_code="nope",
            timestamp=at,
            quantity=1,
            payload_sha256="0" * 64,
            status=UsageEvent.Status.QUARANTINED,
            quarantine_reason="unknown_sku",
            received_at=at,
        )
        for i in range(n)
    )


def test_a_tenants_quarantine_rate_above_the_threshold_fires_for_that_tenant_only() -> None:
    noisy, quiet = world(slug="noisy"), world(slug="quiet")
    usage(noisy.tenant, "api_calls", noisy.version, NOW - timedelta(minutes=5), ["1"] * 18)
    usage(quiet.tenant, "api_calls", quiet.version, NOW - timedelta(minutes=5), ["1"] * 100)
    _quarantined(noisy.tenant, 2, at=NOW - timedelta(minutes=1))  # 2 of 20: 10 %
    _quarantined(quiet.tenant, 1, at=NOW - timedelta(minutes=1))  # 1 of 101: 1 %
    pipeline_evaluate(now=NOW)
    alerts = list(Alert.objects.filter(kind=Alert.Kind.QUARANTINE_RATE))
    assert [(a.tenant_id, a.details["rate"], a.details["events"]) for a in alerts] == [
        (noisy.tenant.pk, "0.1000", 20)
    ]
    # an hour later the window holds none of them: resolved
    pipeline_evaluate(now=NOW + timedelta(hours=2))
    alerts[0].refresh_from_db()
    assert alerts[0].state == "resolved"
