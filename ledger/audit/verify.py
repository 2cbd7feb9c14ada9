"""Recompute the audit chain and name the first record that does not match (`manage.py audit_verify`).

Per record, in seq order: no gap, `prev_hash` is the previous record's hash, the stored diff is the diff
of its before/after, and its hash is the hash of its fields. At the end the audit head must point at the
last record (a deleted tail, with the guards out of the way, leaves the head beyond the chain), and its
signature must verify under settings.LEDGER_ANCHOR_KEY (a head moved back to a rewritten end cannot be
signed without the key)."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings

from ledger.audit.models import AuditHead, AuditRecord
from ledger.audit.services import audit_diff, record_hash
from ledger.hashing import GENESIS, anchor_key_id, audit_head_signature


@dataclass(frozen=True)
class AuditVerifyResult:
    ok: bool
    count: int  # records that verified
    message: str
    seq: int | None = None  # the first record that does not verify


def _diff_problem(record: AuditRecord) -> str | None:
    expected = audit_diff(record.before, record.after)
    if record.diff == expected:
        return None
    stored = record.diff if isinstance(record.diff, dict) else {}
    fields = sorted(k for k in {*stored, *expected} if stored.get(k) != expected.get(k))
    return f"its diff does not match its before/after (fields: {', '.join(fields) or 'the diff itself'})"


def _head_problem(head: tuple[int, str, str, str] | None) -> str | None:
    """What is wrong with the head's signature (the head of a non-empty chain)."""
    if head is None:
        return "missing (deleted): the end of the chain cannot be checked"
    key = settings.LEDGER_ANCHOR_KEY
    seq, hash_, key_id, signature = head
    if key_id != anchor_key_id(key):
        return (
            f"signed with key {key_id or '(none)'}, not the configured key {anchor_key_id(key)}: not trusted"
        )
    if not hmac.compare_digest(audit_head_signature(seq=seq, hash=hash_, key=key), signature):
        return (
            "its signature does not verify (tampered: the end of the chain rewritten together with the head, "
            "records deleted or re-hashed from some record on)"
        )
    return None


def audit_verify(*, batch: int = 2000, progress: Callable[[int], None] | None = None) -> AuditVerifyResult:
    """`OK <count>`, or the first record that breaks the chain and what is wrong with it."""
    prev, expected_seq, count = GENESIS, 1, 0
    pending: AuditRecord | None = None  # the last record read: a changed hash shows in its successor
    while records := list(AuditRecord.objects.filter(seq__gte=expected_seq).order_by("seq")[:batch]):
        for record in records:
            where = f"audit record seq={record.seq} (id={record.pk}, {record.action} {record.object_type}:{record.object_id})"
            if record.seq != expected_seq:
                return AuditVerifyResult(
                    False,
                    count,
                    f"{where}: expected seq {expected_seq} (a gap: records deleted)",
                    expected_seq,
                )
            if record.prev_hash != prev:
                if pending is not None and record_hash(record) == record.hash:
                    # This record is intact and follows another hash: its predecessor was rewritten,
                    # hash and all.
                    return AuditVerifyResult(
                        False,
                        count - 1,
                        f"audit record seq={pending.seq} (id={pending.pk}): rewritten with its hash recomputed "
                        f"(record seq={record.seq} follows another hash) (tampered)",
                        pending.seq,
                    )
                return AuditVerifyResult(
                    False,
                    count,
                    f"{where}: prev_hash does not match the previous record's hash (tampered)",
                    record.seq,
                )
            if problem := _diff_problem(record):
                return AuditVerifyResult(False, count, f"{where}: {problem} (tampered)", record.seq)
            if record_hash(record) != record.hash:
                return AuditVerifyResult(
                    False, count, f"{where}: its content does not match its hash (tampered)", record.seq
                )
            prev, expected_seq, count, pending = record.hash, expected_seq + 1, count + 1, record
        if progress is not None:
            progress(count)
    head = AuditHead.objects.filter(pk=1).values_list("seq", "hash", "key_id", "signature").first()
    if head is not None and (head[0] != count or (count and head[1] != prev)):
        if head[0] == count:  # the head is where the chain ends, but names another hash
            return AuditVerifyResult(
                False,
                count - 1,
                f"audit record seq={count}: its hash is not the one the audit head holds (tampered: the "
                "record rewritten with its hash recomputed, or the head changed)",
                count,
            )
        return AuditVerifyResult(
            False,
            count,
            f"audit head: the last append was seq {head[0]} but the chain ends at seq {count} "
            f"(records seq {count + 1}..{head[0]} missing at the end)",
            count + 1,
        )
    if count and (problem := _head_problem(head)):
        return AuditVerifyResult(False, count, f"audit head at seq {count}: {problem}", count)
    return AuditVerifyResult(True, count, f"OK {count}")
