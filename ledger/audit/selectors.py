"""Reading the audit trail: filtered, newest first (the portal's page and its CSV export)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet

from ledger.audit.models import AuditRecord

CSV_COLUMNS = (
    "seq",
    "at",
    "actor",
    "action",
    "object_type",
    "object_id",
    "reason",
    "request_id",
    "diff",
    "before",
    "after",
    "prev_hash",
    "hash",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class AuditFilter:
    """Each field narrows the trail when set: exact object type, action, actor (username or 'system') and
    object id; `since` inclusive, `until` exclusive."""

    object_type: str = ""
    action: str = ""
    actor: str = ""
    object_id: str = ""
    since: datetime | None = None
    until: datetime | None = None


def audit_records(*, where: AuditFilter) -> QuerySet[AuditRecord]:
    """The records `where` selects, newest first (by seq: the chain's order)."""
    rows = AuditRecord.objects.all()
    if where.object_type:
        rows = rows.filter(object_type=where.object_type)
    if where.action:
        rows = rows.filter(action=where.action)
    if where.actor:
        rows = rows.filter(actor_label=where.actor)
    if where.object_id:
        rows = rows.filter(object_id=where.object_id)
    if where.since is not None:
        rows = rows.filter(at__gte=where.since)
    if where.until is not None:
        rows = rows.filter(at__lt=where.until)
    return rows.order_by("-seq")


def audit_choices() -> tuple[list[str], list[str]]:
    """The object types and actions the trail holds (for the filter's lists), sorted."""
    types = AuditRecord.objects.order_by("object_type").values_list("object_type", flat=True).distinct()
    actions = AuditRecord.objects.order_by("action").values_list("action", flat=True).distinct()
    return list(types), list(actions)


def _cell(value: str) -> str:
    """A text cell a spreadsheet shows as text: one starting like a formula gets a leading apostrophe."""
    return f"'{value}" if value.startswith(_FORMULA_START) else value


def _json(value: object) -> str:
    return "" if value is None else json.dumps(value, sort_keys=True, ensure_ascii=False)


def audit_csv_rows(*, where: AuditFilter, chunk: int = 2000) -> Iterator[list[str]]:
    """The header, then one row per record `where` selects, newest first, read `chunk` at a time. Before,
    after and diff as JSON; times in UTC ISO 8601."""
    yield list(CSV_COLUMNS)
    for r in audit_records(where=where).iterator(chunk_size=chunk):
        yield [
            str(r.seq),
            r.at.isoformat(),
            _cell(r.actor_label),
            _cell(r.action),
            _cell(r.object_type),
            _cell(r.object_id),
            _cell(r.reason),
            _cell(r.request_id),
            _cell(_json(r.diff)),
            _cell(_json(r.before)),
            _cell(_json(r.after)),
            r.prev_hash,
            r.hash,
        ]
