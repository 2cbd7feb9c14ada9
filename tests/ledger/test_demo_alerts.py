"""`manage.py demo_alerts`: acme's demo endpoints get successes, retries and a dead letter; the alerts
fire (budget, webhook_dead) and resolve (anomaly); a second run changes nothing."""
# The 500 endpoint gets 4 events (budget fired, anomaly fired and resolved, its own dead letter fired),
# 8 attempts each (WEBHOOK_MAX_ATTEMPTS); the 200 endpoint one attempt each.

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from ledger.models import Alert
from tenants.models import WebhookAttempt, WebhookDelivery
from tests.factories import TenantFactory

pytestmark = pytest.mark.django_db


def _picture() -> dict[str, object]:
    return {
        "alerts": sorted(Alert.objects.values_list("kind", "state")),
        "deliveries": sorted(
            WebhookDelivery.objects.values_list("endpoint__description", "event_type", "status")
        ),
        "attempts_500": sorted(
            code or 0
            for code in WebhookAttempt.objects.filter(
                delivery__endpoint__description="demo: answers 500"
            ).values_list("status_code", flat=True)
        ),
    }


def test_it_shows_firing_and_resolved_alerts_and_a_delivery_log() -> None:
    TenantFactory.create(slug="acme")
    out = io.StringIO()
    call_command("demo_alerts", stdout=out)
    picture = _picture()
    assert picture["alerts"] == [("anomaly", "resolved"), ("budget", "firing"), ("webhook_dead", "firing")]
    assert picture["deliveries"] == [
        ("demo: answers 200", "alert.fired", "succeeded"),
        ("demo: answers 200", "alert.fired", "succeeded"),
        ("demo: answers 200", "alert.fired", "succeeded"),
        ("demo: answers 200", "alert.resolved", "succeeded"),
        ("demo: answers 500", "alert.fired", "dead"),
        ("demo: answers 500", "alert.fired", "dead"),
        ("demo: answers 500", "alert.fired", "dead"),
        ("demo: answers 500", "alert.resolved", "dead"),
    ]
    assert picture["attempts_500"] == [500] * 32
    assert out.getvalue().startswith("demo_alerts: 36 attempts to 36 requests received")
    # again: nothing changes
    call_command("demo_alerts", stdout=out)
    assert _picture() == picture
    assert out.getvalue().endswith(
        "demo_alerts: acme's demo endpoints and their delivery log are already there\n"
    )


def test_it_sends_the_alerts_acme_already_has_instead_of_samples() -> None:
    from ledger.alerts.services import alert_fire, alert_resolve

    acme = TenantFactory.create(slug="acme")
    alert_fire(kind="anomaly", tenant_id=acme.pk, key="api_calls:hourly", message="api_calls: 5x the usual")
    alert_resolve(kind="anomaly", tenant_id=acme.pk, key="api_calls:hourly")
    alert_fire(kind="reconciliation", tenant_id=None, key="provider_vs_rated", message="finance only")

    call_command("demo_alerts", stdout=io.StringIO())

    assert sorted(Alert.objects.values_list("kind", "key", "state")) == [
        ("anomaly", "api_calls:hourly", "resolved"),
        ("reconciliation", "provider_vs_rated", "firing"),
        ("webhook_dead", "endpoint:" + str(_failing_endpoint_id()), "firing"),
    ]
    assert sorted(
        WebhookDelivery.objects.filter(endpoint__description="demo: answers 200").values_list(
            "event_type", "status"
        )
    ) == [("alert.fired", "succeeded"), ("alert.fired", "succeeded"), ("alert.resolved", "succeeded")]


def _failing_endpoint_id() -> int:
    from tenants.models import WebhookEndpoint

    return WebhookEndpoint.objects.get(description="demo: answers 500").pk
