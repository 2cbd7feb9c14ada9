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
