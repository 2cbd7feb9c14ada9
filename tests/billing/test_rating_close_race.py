"""Rating and period close never interleave badly: an event rated while its tenant's period is being
closed is either on that invoice or flagged late (then corrected on the next invoice), never lost."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import transaction

from billing.rating.models import BillingPeriod
from billing.usage.models import RatingBatch, UsageEvent
from tenants.models import Tenant
from tests.factories.usage import stored_pending_event, usage_world
from tests.threads import in_thread, rating_waits_for

pytestmark = [pytest.mark.django_db(transaction=True)]

NOV = datetime(2026, 11, 1, tzinfo=UTC)
DEC = datetime(2026, 12, 1, tzinfo=UTC)


def test_rating_waits_for_a_close_in_flight_and_flags_the_event_late():
    # given a pending event in November
    world = usage_world()
    stored_pending_event(
        world.tenant, world.sku, "e-1", timestamp=datetime(2026, 11, 20, tzinfo=UTC), quantity=Decimal(3)
    )
    locked, release = threading.Event(), threading.Event()

    def close_in_flight() -> None:  # what close_period does: lock the tenant, ..., mark the period closed
        with transaction.atomic():
            Tenant.objects.select_for_update().get(pk=world.tenant.pk)
            locked.set()
            release.wait(timeout=10)
            BillingPeriod.objects.create(
                tenant=world.tenant, key="2026-11", start=NOV, end=DEC, status="closed", closed_at=DEC
            )

    # when rating starts while the close holds the tenant
    blocked_while_closing = rating_waits_for(in_thread(close_in_flight), locked, release)

    # then rating waited for the close, and saw the period closed
    assert blocked_while_closing
    stored = UsageEvent.objects.get(event_id="e-1")
    batch = RatingBatch.objects.get(pk=stored.rating_batch_id or 0)
    assert (stored.status, stored.late, batch.status) == ("accepted", True, "rated")
