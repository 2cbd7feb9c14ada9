"""Exactly once under concurrency: the same batch posted 5 times at once, plus client retries."""

from __future__ import annotations

import json
import random
import threading
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from billing.rating.models import UsageAggregate
from billing.rating.services import usage_rate_pending
from billing.usage.models import IngestRequest, RatingBatch, UsageEvent
from tests.factories.usage import event, usage_world

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _fresh_caches():
    from django.core.cache import cache

    from billing.usage.ingest import catalog_cache_clear

    cache.clear()
    catalog_cache_clear()
    yield
    catalog_cache_clear()


def _post_in_thread(secret: str, body: str, headers: dict[str, Any], out: list[int], barrier) -> None:
    try:
        barrier.wait()
        client = Client()
        for _ in range(3):  # a client that retries on a transient failure
            response = client.post(
                "/api/v1/usage",
                data=body,
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Bearer {secret}",
                **headers,
            )
            out.append(response.status_code)
            if response.status_code == 200:
                break
    finally:
        connection.close()


def test_the_same_batch_posted_five_times_at_once_is_stored_and_billed_once(settings):
    settings.USAGE_RATE_LIMIT_REQUESTS = 0
    world = usage_world()
    rng = random.Random(7)
    batch = [
        event(
            f"e-{i}",
            timestamp=f"2026-11-{1 + i % 14:02d}T{i % 24:02d}:00:00Z",
            quantity=str(rng.randint(1, 1000)),
        )
        for i in range(300)
    ]
    body = json.dumps({"events": batch})
    statuses: list[int] = []
    barrier = threading.Barrier(5)
    threads = [
        threading.Thread(target=_post_in_thread, args=(world.secret, body, {}, statuses, barrier))
        for _ in range(5)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # and random retries of random slices, after the fact
    client = Client()
    for _ in range(5):
        start = rng.randint(0, 250)
        client.post(
            "/api/v1/usage",
            data=json.dumps({"events": batch[start : start + 50]}),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {world.secret}",
        )
    assert statuses == [200] * 5
    usage_rate_pending()
    assert UsageEvent.objects.count() == 300
    assert set(UsageEvent.objects.values_list("status", flat=True)) == {"accepted"}
    assert set(RatingBatch.objects.values_list("status", flat=True)) == {"rated"}
    assert sum(RatingBatch.objects.values_list("event_count", flat=True)) == 300
    total = sum(UsageAggregate.objects.values_list("quantity", flat=True))
    assert total == sum(Decimal(e["quantity"]) for e in batch)
    assert sum(UsageAggregate.objects.values_list("event_count", flat=True)) == 300


def test_a_concurrent_request_with_the_same_idempotency_key_replays_or_gets_409(settings):
    settings.USAGE_RATE_LIMIT_REQUESTS = 0
    world = usage_world()
    body = json.dumps({"events": [event(f"e-{i}") for i in range(500)]})
    statuses: list[int] = []
    barrier = threading.Barrier(5)

    def once(out: list[int]) -> None:
        try:
            barrier.wait()
            response = Client().post(
                "/api/v1/usage",
                data=body,
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Bearer {world.secret}",
                HTTP_IDEMPOTENCY_KEY="k-1",
            )
            out.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=once, args=(statuses,)) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses.count(200) >= 1
    assert set(statuses) <= {200, 409}
    assert UsageEvent.objects.count() == 500
    assert IngestRequest.objects.count() == 1
