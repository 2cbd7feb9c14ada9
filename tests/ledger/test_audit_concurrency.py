"""Concurrent writers of the audit trail append one after another: the chain never forks."""

from __future__ import annotations

from functools import partial

import pytest

from ledger.audit.models import AuditRecord
from ledger.audit.services import audit_record
from ledger.audit.verify import audit_verify
from tests.threads import run_together

pytestmark = pytest.mark.django_db(transaction=True)


def _append(n: int) -> int:
    record = audit_record(
        actor=None,
        action="thing.update",
        obj=None,
        object_type="tests.thing",
        object_id=str(n),
        before={"n": 0},
        after={"n": n},
    )
    return record.seq


def test_eight_writers_at_once_make_one_chain():
    results, errors = run_together([partial(_append, n) for n in range(8)])
    assert errors == []
    assert sorted(results) == list(range(1, 9))
    assert sorted(AuditRecord.objects.values_list("object_id", flat=True)) == [str(n) for n in range(8)]
    assert audit_verify().message == "OK 8"
