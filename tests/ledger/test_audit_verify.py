"""`manage.py audit_verify` (ledger.audit.verify): recomputes the audit chain and names the first record
tampered with as the database owner, with the append-only trigger out of the way."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from ledger.audit.models import AuditRecord
from ledger.audit.services import audit_record, record_hash
from ledger.audit.verify import audit_verify

pytestmark = pytest.mark.django_db


def _records(n: int) -> list[AuditRecord]:
    return [
        audit_record(
            actor=None,
            action="thing.update",
            obj=None,
            object_type="tests.thing",
            object_id=str(i),
            before={"price": str(i)},
            after={"price": str(i + 1)},
            reason=f"change {i}",
        )
        for i in range(1, n + 1)
    ]


def _tamper(sql: str, params: list[int | str], *, table: str = "ledger_auditrecord") -> None:
    """Run `sql` with the guards of `table` (every user trigger) out of the way, as the owner could."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # ALTER TABLE needs no pending trigger events
        cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        cursor.execute(sql, params)
        cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")


def test_an_intact_trail_verifies():
    _records(3)
    assert audit_verify().message == "OK 3"


def test_an_empty_trail_verifies():
    assert audit_verify().message == "OK 0"


def test_it_names_a_record_whose_reason_was_rewritten():
    second = _records(3)[1]
    _tamper("UPDATE ledger_auditrecord SET reason = 'nothing to see' WHERE id = %s", [second.pk])
    result = audit_verify()
    assert (result.ok, result.seq, result.count) == (False, 2, 1)
    assert result.message.startswith("audit record seq=2 ")
    assert "content does not match its hash (tampered)" in result.message


def test_it_names_the_fields_when_after_was_rewritten_but_not_the_diff():
    second = _records(3)[1]
    _tamper("""UPDATE ledger_auditrecord SET after = '{"price": "0"}' WHERE id = %s""", [second.pk])
    result = audit_verify()
    assert result.seq == 2
    assert "its diff does not match its before/after (fields: price)" in result.message


def test_it_names_a_record_rewritten_with_its_hash_recomputed():
    records = _records(3)
    second = records[1]
    second.reason = "forged"
    forged_hash = record_hash(second)
    _tamper(
        "UPDATE ledger_auditrecord SET reason = 'forged', hash = %s WHERE id = %s", [forged_hash, second.pk]
    )
    result = audit_verify()
    assert (result.seq, result.count) == (2, 1)
    assert result.message.startswith("audit record seq=2 ")
    assert "rewritten with its hash recomputed" in result.message


def test_it_names_the_last_record_rewritten_with_its_hash_recomputed():
    last = _records(2)[1]
    last.reason = "forged"
    _tamper(
        "UPDATE ledger_auditrecord SET reason = 'forged', hash = %s WHERE id = %s",
        [record_hash(last), last.pk],
    )
    result = audit_verify()
    assert result.seq == 2
    assert "its hash is not the one the audit head holds" in result.message


def test_it_names_a_gap():
    _records(3)
    _tamper("DELETE FROM ledger_auditrecord WHERE seq = 2", [])
    result = audit_verify()
    assert result.seq == 2
    assert "expected seq 2 (a gap: records deleted)" in result.message


def test_it_notices_a_deleted_tail():
    _records(3)
    _tamper("DELETE FROM ledger_auditrecord WHERE seq = 3", [])
    result = audit_verify()
    assert (result.ok, result.count, result.seq) == (False, 2, 3)
    assert "records seq 3..3 missing at the end" in result.message


def test_the_command_exits_1_naming_the_record():
    second = _records(2)[1]
    _tamper("UPDATE ledger_auditrecord SET actor_label = 'someone else' WHERE id = %s", [second.pk])
    with pytest.raises(CommandError) as exc:
        call_command("audit_verify")
    assert exc.value.returncode == 1
    assert str(exc.value).startswith("FAIL audit record seq=2 ")


def test_the_command_reports_progress_per_batch():
    _records(5)
    out, err = io.StringIO(), io.StringIO()
    call_command("audit_verify", batch=2, stdout=out, stderr=err)
    assert out.getvalue() == "OK 5\n"
    assert err.getvalue().splitlines() == [
        "checked 2/5 records",
        "checked 4/5 records",
        "checked 5/5 records",
    ]


def test_it_names_a_record_whose_link_was_rewritten():
    third = _records(3)[2]
    _tamper("UPDATE ledger_auditrecord SET prev_hash = %s WHERE id = %s", ["a" * 64, third.pk])
    result = audit_verify()
    assert (result.seq, result.count) == (3, 2)
    assert "prev_hash does not match the previous record's hash (tampered)" in result.message


def test_it_notices_a_tail_deleted_with_the_head_moved_back():
    records = _records(3)
    second = records[1]
    _tamper("DELETE FROM ledger_auditrecord WHERE seq = 3", [])
    _tamper("UPDATE ledger_audithead SET seq = 2, hash = %s", [second.hash], table="ledger_audithead")
    result = audit_verify()
    assert (result.ok, result.count, result.seq) == (False, 2, 2)
    assert result.message.startswith("audit head at seq 2: its signature does not verify (tampered")


def test_it_does_not_trust_a_head_signed_with_another_key(settings):
    _records(1)
    settings.LEDGER_ANCHOR_KEY = "another key, not the one that signed"
    result = audit_verify()
    assert not result.ok
    assert "not the configured key" in result.message


def test_it_notices_a_deleted_head():
    _records(1)
    _tamper("DELETE FROM ledger_audithead", [], table="ledger_audithead")
    assert audit_verify().message == (
        "audit head at seq 1: missing (deleted): the end of the chain cannot be checked"
    )
