"""Writing the audit trail: `audit_record` is the only writer of AuditRecord rows.

Call it inside the transaction of the change it records, after the change (it locks the audit head until
that transaction ends, so call it last: the lock serialises every audited write). Before/after are
snapshots (`audit_snapshot`), made JSON-plain (`audit_plain`: Decimal and dates as text) so the hash of a
record is the same whether computed from the arguments or from the row read back."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, Protocol

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db import IntegrityError, models, transaction
from django.db.models.fields.files import FieldFile
from django.utils import timezone

from common.errors import ValidationFailed
from common.request_id import current_request_id
from ledger.audit.models import AuditHead, AuditRecord
from ledger.hashing import GENESIS, anchor_key_id, audit_head_signature, canonical_sha256

SYSTEM = "system"
_UTC_MICROS = "%Y-%m-%dT%H:%M:%S.%fZ"

Snapshot = dict[str, Any]
Actor = AbstractBaseUser | AnonymousUser | None  # None or anonymous: the system (a task, a command)


def audit_plain(value: Any) -> Any:
    """`value` as plain JSON (what a JSONB column gives back unchanged): Decimal, float, UUID and files as
    text, aware datetimes in UTC ISO 8601 with microseconds, dates in ISO 8601, enums by value, models by
    primary key, tuples and lists as lists, sets sorted."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, enum.Enum):
        return audit_plain(value.value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dt.datetime):
        if timezone.is_naive(value):
            return value.isoformat()
        return value.astimezone(dt.UTC).strftime(_UTC_MICROS)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, FieldFile):
        return value.name or ""
    if isinstance(value, models.Model):
        return audit_plain(value.pk)
    if isinstance(value, Mapping):
        return {str(k): audit_plain(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted((audit_plain(v) for v in value), key=repr)
    if isinstance(value, list | tuple):
        return [audit_plain(v) for v in value]
    return str(value)


def audit_snapshot(
    obj: models.Model, *, fields: Iterable[str] | None = None, exclude: Iterable[str] = ()
) -> Snapshot:
    """The concrete fields of `obj` (only `fields` when given, never `exclude`) by field name, JSON-plain;
    a foreign key by the related object's id."""
    wanted = set(fields) if fields is not None else None
    skip = set(exclude)
    snapshot: Snapshot = {}
    for field in obj._meta.concrete_fields:
        if field.name in skip or (wanted is not None and field.name not in wanted):
            continue
        snapshot[field.name] = audit_plain(getattr(obj, field.attname))
    return snapshot


def audit_diff(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> dict[str, list[Any]]:
    """{field: [old, new]} for every field whose value differs (a field missing on one side is None)."""
    old, new = before or {}, after or {}
    return {key: [old.get(key), new.get(key)] for key in sorted({*old, *new}) if old.get(key) != new.get(key)}


class AuditRow(Protocol):
    """The fields of an audit record that its hash covers."""

    seq: int
    at: dt.datetime
    actor_id: int | None
    actor_label: str
    action: str
    object_type: str
    object_id: str
    before: Any
    after: Any
    diff: Any
    reason: str
    request_id: str
    prev_hash: str


def record_hash(record: AuditRow) -> str:
    """canonical_sha256 of the record's fields (the journal's canonical JSON, ledger/hashing.py)."""
    return canonical_sha256(
        {
            "seq": record.seq,
            "at": record.at.astimezone(dt.UTC).strftime(_UTC_MICROS),
            "actor": record.actor_id,
            "actor_label": record.actor_label,
            "action": record.action,
            "object_type": record.object_type,
            "object_id": record.object_id,
            "before": record.before,
            "after": record.after,
            "diff": record.diff,
            "reason": record.reason,
            "request_id": record.request_id,
            "prev": record.prev_hash,
        }
    )


def audit_head_for_update() -> AuditHead:
    """The audit head row, locked until the caller's transaction ends (created when missing)."""
    head = AuditHead.objects.select_for_update().filter(pk=1).first()
    if head is not None:
        return head
    try:
        with transaction.atomic():
            AuditHead.objects.create(pk=1)
    except IntegrityError:
        pass
    return AuditHead.objects.select_for_update().get(pk=1)


def audit_record(
    *,
    actor: Actor,
    action: str,
    obj: models.Model | None,
    object_type: str | None = None,
    object_id: str | None = None,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    reason: str = "",
    at: dt.datetime | None = None,
) -> AuditRecord:
    """Append one record: `actor` (None or anonymous: the system) did `action` to `obj` (or to
    `object_type`/`object_id` when there is no model instance), changing `before` into `after` (None: it did
    not exist / no longer exists), for `reason`. The request ID is `current_request_id()`."""
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id if object_id is not None else str(obj.pk)
    if not object_type or not action:
        raise ValidationFailed("an audit record needs an action and an object type")
    user = actor if actor is not None and actor.is_authenticated else None
    plain_before = audit_plain(before) if before is not None else None
    plain_after = audit_plain(after) if after is not None else None
    with transaction.atomic(savepoint=False):
        head = audit_head_for_update()
        record = AuditRecord(
            seq=head.seq + 1,
            at=at or timezone.now(),
            actor_id=user.pk if user is not None else None,
            actor_label=user.get_username() if user is not None else SYSTEM,
            action=action,
            object_type=object_type,
            object_id=object_id or "",
            before=plain_before,
            after=plain_after,
            diff=audit_diff(plain_before, plain_after),
            reason=reason,
            request_id=current_request_id(),
            prev_hash=head.hash if head.seq else GENESIS,
        )
        record.hash = record_hash(record)
        record.save(force_insert=True)
        key = settings.LEDGER_ANCHOR_KEY
        head.seq, head.hash, head.key_id = record.seq, record.hash, anchor_key_id(key)
        head.signature = audit_head_signature(seq=head.seq, hash=head.hash, key=key)
        head.save(update_fields=["seq", "hash", "key_id", "signature"])
    return record
