"""PostgreSQL ingest stages each request's rows in a per-session temporary table (ON COMMIT DELETE ROWS),
created by the session's first request and emptied by each commit (explicitly only when the store runs
inside a caller's transaction). Consecutive requests on one session, a rolled-back first request (which
takes the new table with it) and several stores inside one transaction all see only their own rows."""

from __future__ import annotations

import json

import pytest
from django.db import connection, transaction

from billing.usage.idempotency import IngestResult
from billing.usage.ingest import usage_ingest
from billing.usage.models import UsageEvent
from tests.factories.usage import event, usage_env, usage_world

__all__ = ["usage_env"]

pytestmark = [pytest.mark.usefixtures("usage_env")]


def _statuses(result: IngestResult) -> list[str]:
    return [item["status"] for item in json.loads(result.body)["results"]]


def _staged_rows() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM usage_ingest_stage")
        (count,) = cursor.fetchone()
    return int(count)


@pytest.mark.django_db(transaction=True)
def test_committed_requests_on_one_session_each_see_only_their_rows():
    world = usage_world()
    connection.close()  # a new database session: no staging table yet
    first = usage_ingest(tenant=world.tenant, events=[event("a"), event("b"), event("c")])
    second = usage_ingest(tenant=world.tenant, events=[event("d"), event("a"), event("e")])
    assert (_statuses(first), _statuses(second)) == (
        ["accepted", "accepted", "accepted"],
        ["accepted", "duplicate", "accepted"],
    )
    assert _staged_rows() == 0
    assert UsageEvent.objects.count() == 5


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_first_request_does_not_break_the_next_one():
    world = usage_world()
    connection.close()

    def store_then_fail() -> None:
        with transaction.atomic():
            usage_ingest(tenant=world.tenant, events=[event("a")])
            raise RuntimeError("the caller's transaction fails after the store")

    with pytest.raises(RuntimeError):
        store_then_fail()
    result = usage_ingest(tenant=world.tenant, events=[event("a"), event("b")])
    assert _statuses(result) == ["accepted", "accepted"]
    assert sorted(UsageEvent.objects.values_list("event_id", flat=True)) == ["a", "b"]


def test_several_stores_in_one_transaction_see_only_their_own_rows():
    world = usage_world()
    with transaction.atomic():
        first = usage_ingest(tenant=world.tenant, events=[event("a"), event("b")])
        second = usage_ingest(tenant=world.tenant, events=[event("b", quantity="2"), event("c")])
    assert (_statuses(first), _statuses(second)) == (["accepted", "accepted"], ["conflict", "accepted"])
    assert UsageEvent.objects.count() == 3
