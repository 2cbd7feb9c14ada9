"""Factories and builders for the usage pipeline tests: a tenant on a profile with an API key, events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.db import connection

from billing.catalog.models import Meter, Sku
from billing.profiles.models import ProfileVersion
from billing.usage.models import RatingBatch, UsageEvent
from tenants.models import ApiKey, Tenant
from tenants.services import api_key_create
from tests.factories.billing import (
    ApprovedVersionFactory,
    BillingProfileFactory,
    MeterFactory,
    ProfileAssignmentFactory,
    SkuFactory,
    profile_document,
)
from tests.factories.tenants import TenantFactory

NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)


@dataclass
class UsageWorld:
    tenant: Tenant
    sku: Sku
    version: ProfileVersion
    key: ApiKey
    secret: str

    def auth(self) -> dict[str, str]:
        return {"HTTP_AUTHORIZATION": f"Bearer {self.secret}"}


def sku_with_meter(
    code: str, *, aggregation: str = Meter.Aggregation.SUM, unique_tag: str = "", allow_negative: bool = False
) -> Sku:
    meter = MeterFactory.create(
        code=f"m-{code}", aggregation=aggregation, unique_tag=unique_tag, allow_negative=allow_negative
    )
    return SkuFactory.create(code=code, meter=meter)


def usage_world(
    *,
    slug: str = "acme",
    sku_code: str = "api_calls",
    aggregation: str = Meter.Aggregation.SUM,
    unique_tag: str = "",
    allow_negative: bool = False,
    prices: list[dict[str, Any]] | None = None,
    effective_from: datetime = datetime(2026, 1, 1, tzinfo=UTC),
    **document: Any,
) -> UsageWorld:
    """A tenant assigned (from 2026-01-01) to a profile whose approved version prices `sku_code` per unit
    at 0.10 (or `prices`), plus a tenant API key."""
    tenant = TenantFactory.create(slug=slug)
    sku = Sku.objects.filter(code=sku_code).first() or sku_with_meter(
        sku_code, aggregation=aggregation, unique_tag=unique_tag, allow_negative=allow_negative
    )
    profile = BillingProfileFactory.create(code=f"profile-{slug}")
    body = profile_document(profile.code, sku=sku_code, **document)
    if prices is not None:
        body["prices"] = prices
    version = ApprovedVersionFactory.create(profile=profile, body=body, effective_from=effective_from)
    ProfileAssignmentFactory.create(
        tenant=tenant, profile=profile, effective_from=datetime(2026, 1, 1, tzinfo=UTC)
    )
    issued = api_key_create(tenant=tenant, name="tests")
    return UsageWorld(tenant=tenant, sku=sku, version=version, key=issued.api_key, secret=issued.secret)


def event(
    event_id: str = "e-1",
    *,
    sku: str = "api_calls",
    timestamp: str = "2026-11-15T10:00:00Z",
    quantity: Any = "1",
    **extra: Any,
) -> dict[str, Any]:
    return {"event_id": event_id, "sku": sku, "timestamp": timestamp, "quantity": quantity, **extra}


def post_usage(client: Any, world_or_secret: UsageWorld | str, events: list[Any], **headers: Any) -> Any:
    secret = world_or_secret.secret if isinstance(world_or_secret, UsageWorld) else world_or_secret
    return client.post(
        "/api/v1/usage",
        data=json.dumps({"events": events}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
        **headers,
    )


@pytest.fixture
def usage_env(db: Any) -> Iterator[None]:
    """Frozen clock at NOW, empty cache (rate-limit counters, nudge flag) and SKU cache."""
    from django.core.cache import cache

    from billing.usage.ingest import catalog_cache_clear

    cache.clear()
    catalog_cache_clear()
    with time_machine.travel(NOW, tick=False):
        yield
    cache.clear()
    catalog_cache_clear()


def stored_pending_event(
    tenant: Tenant,
    sku: Sku,
    event_id: str,
    *,
    timestamp: datetime,
    quantity: Decimal = Decimal(1),
    received_at: datetime | None = None,
    platform: bool = False,
) -> UsageEvent:
    """An accepted event stored as the ingest stores it (with its pending RatingBatch, which names its
    tenant unless `platform`: a platform key's batch may hold several tenants), bypassing the API's time
    checks. As the ingest does, the batch's id is drawn first and the batch row written after its event,
    with its final id range (the database never lets a batch's range change)."""
    batch_id = rating_batch_id_next()
    stored = UsageEvent.objects.create(
        tenant=tenant,
        event_id=event_id,
        sku=sku,
        sku_code=sku.code,
        timestamp=timestamp,
        quantity=quantity,
        payload_sha256="0" * 64,
        received_at=received_at or timestamp,
        rating_batch_id=batch_id,
    )
    RatingBatch.objects.create(
        id=batch_id,
        first_event_id=stored.pk,
        last_event_id=stored.pk,
        event_count=1,
        tenant_ids=[tenant.pk],
        tenant=None if platform else tenant,
        earliest_event_at=timestamp,
        latest_event_at=timestamp,
        created_at=received_at or timestamp,
    )
    return stored


def rating_batch_id_next() -> int:
    """A RatingBatch id drawn from its sequence, as billing.usage.storage draws one before the events that
    name it are inserted."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence('billing_ratingbatch', 'id'))")
        row = cursor.fetchone()
    assert row is not None
    return int(row[0])
