"""Two finance users re-attribute the same quarantine group at once: the rows are locked, so each event
is re-attributed once, into one rating batch, and the second request finds nothing left to do."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from billing.usage.models import RatingBatch, UsageEvent
from billing.usage.quarantine import usage_events_reattribute
from tests.factories import UserFactory
from tests.factories.usage import usage_world
from tests.threads import run_together

pytestmark = [pytest.mark.django_db(transaction=True)]


def test_concurrent_bulk_reattributions_take_each_event_once():
    world = usage_world(slug="acme")
    admin = UserFactory.create(username="root-a", is_staff=True, is_superuser=True)
    at = datetime(2026, 11, 10, tzinfo=UTC)
    UsageEvent.objects.bulk_create(
        [
            UsageEvent(
                tenant=None,
                tenant_slug="acme-typo",
                event_id=f"q-{i}",
                sku=world.sku,
                sku_code=world.sku.code,
                timestamp=at + timedelta(minutes=i),
                quantity=Decimal(1),
                payload_sha256=hashlib.sha256(str(i).encode()).hexdigest(),
                status=UsageEvent.Status.QUARANTINED,
                quarantine_reason="unknown_tenant",
                received_at=at + timedelta(minutes=i),
            )
            for i in range(300)
        ]
    )

    def job() -> int:
        return usage_events_reattribute(
            reason="unknown_tenant", tenant=world.tenant, actor=admin
        ).reattributed

    results, errors = run_together([job, job])

    assert errors == []
    assert sorted(results) == [0, 300]
    assert UsageEvent.objects.filter(status="accepted", tenant=world.tenant).count() == 300
    assert list(RatingBatch.objects.filter(source="reattribution").values_list("event_count", flat=True)) == [
        300
    ]
