"""ledger.audit.services.audit_record: what a record holds, its chain, and what the database refuses."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import cast

import pytest
from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction

from common.request_id import request_id_bound
from ledger.audit.models import AuditHead, AuditRecord
from ledger.audit.services import audit_diff, audit_plain, audit_record, audit_snapshot, record_hash
from ledger.hashing import GENESIS
from tenants.models import Tenant
from tests.factories.tenants import TenantFactory, UserFactory

pytestmark = pytest.mark.django_db


def _record(n: int = 1, **kwargs: object) -> AuditRecord:
    fields: dict[str, object] = {
        "actor": None,
        "action": "thing.update",
        "obj": None,
        "object_type": "tests.thing",
        "object_id": str(n),
        "before": {"n": n - 1},
        "after": {"n": n},
        **kwargs,
    }
    return audit_record(**fields)  # type: ignore[arg-type]


def test_it_records_actor_diff_reason_and_request_id():
    user = cast(User, UserFactory(username="fiona"))
    tenant = cast(Tenant, TenantFactory(slug="acme", name="Acme"))
    before = audit_snapshot(tenant, fields=["slug", "name"])
    tenant.name = "Acme GmbH"
    with request_id_bound("req-1"):
        record = audit_record(
            actor=user,
            action="tenant.update",
            obj=tenant,
            before=before,
            after=audit_snapshot(tenant, fields=["slug", "name"]),
            reason="renamed",
        )
    record.refresh_from_db()
    assert (record.seq, record.actor_id, record.actor_label) == (1, user.pk, "fiona")
    assert (record.object_type, record.object_id) == ("tenants.tenant", str(tenant.pk))
    assert record.diff == {"name": ["Acme", "Acme GmbH"]}
    assert (record.reason, record.request_id, record.prev_hash) == ("renamed", "req-1", GENESIS)


def test_a_record_without_a_user_is_the_systems():
    record = _record()
    assert (record.actor_id, record.actor_label, record.request_id) == (None, "system", "")


def test_records_chain_each_to_the_previous_hash_and_move_the_head():
    first, second = _record(1), _record(2)
    assert second.seq == 2
    assert second.prev_hash == first.hash
    head = AuditHead.objects.get()
    assert (head.seq, head.hash) == (2, second.hash)


def test_the_hash_read_back_from_the_database_is_the_one_written():
    record = _record(before={"amount": Decimal("1.50"), "at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)})
    stored = AuditRecord.objects.get(pk=record.pk)
    assert stored.before == {"amount": "1.50", "at": "2026-01-02T03:04:05.000000Z"}
    assert record_hash(stored) == record.hash


def test_the_diff_names_created_and_removed_fields():
    assert audit_diff(None, {"a": 1}) == {"a": [None, 1]}
    assert audit_diff({"a": 1, "b": 2}, {"a": 1}) == {"b": [2, None]}
    assert audit_diff({"a": 1}, {"a": 1}) == {}


def test_plain_values_are_json_text_for_decimals_and_sets():
    assert audit_plain({"x": Decimal("0.10"), "s": {3, 1}, "t": (1, 2)}) == {
        "x": "0.10",
        "s": [1, 3],
        "t": [1, 2],
    }


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE ledger_auditrecord SET reason = 'x'",
        "DELETE FROM ledger_auditrecord",
        "TRUNCATE ledger_auditrecord",
        "DELETE FROM ledger_audithead",
    ],
)
def test_the_database_refuses_changing_the_trail(sql: str):
    _record()
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # TRUNCATE needs no pending trigger events
        with pytest.raises(IntegrityError, match=r"not allowed|never deleted"), transaction.atomic():
            cursor.execute(sql)


def test_the_database_refuses_a_record_that_forks_the_chain():
    _record(1)
    second = _record(2)
    with pytest.raises(IntegrityError, match="does not follow record seq 2"), transaction.atomic():
        AuditRecord.objects.create(
            seq=3,
            at=second.at,
            actor_label="x",
            action="a",
            object_type="t",
            prev_hash=GENESIS,
            hash="1" * 64,
        )


def test_the_database_refuses_a_record_the_head_does_not_cover():
    _record(1)
    first = AuditRecord.objects.get()
    AuditRecord.objects.create(
        seq=2, at=first.at, actor_label="x", action="a", object_type="t", prev_hash=first.hash, hash="1" * 64
    )
    with connection.cursor() as cursor, pytest.raises(IntegrityError, match="without moving the audit head"):
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
