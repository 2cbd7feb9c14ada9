"""Durable, deduplicated storage of a validated batch (the ingest service's write path).

PostgreSQL: COPY into a per-connection temporary staging table, then one
`INSERT ... SELECT ... ON CONFLICT DO NOTHING RETURNING`; other databases (the SQLite fallback): read the
stored keys, then a bulk insert, inside the writer-exclusive transaction SQLite gives us. Both return the
stored payload hash of every event that was already there, so the caller can tell duplicates from
conflicts. Both also record the accepted events that were inserted as pending RatingBatch rows, one per
tenant of the request, in the same transaction: those rows are rating's work items (see
billing.rating.services). Events are inserted tenant by tenant (request order within a tenant), so each
tenant's batch covers a compact id range even when a platform key sends several tenants' events at once;
one-tenant batches let raters work on disjoint tenants side by side."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import connection

from billing.usage.models import RatingBatch, UsageEvent


@dataclass(slots=True)
class StoredRow:
    """One event that will be stored (accepted or quarantined). Built positionally by the ingest
    service: keep the field order."""

    index: int
    tenant_id: int | None
    tenant_slug: str
    event_id: str
    sku_id: int | None
    sku_code: str
    project_id: int | None
    project_code: str
    timestamp: datetime
    quantity: Decimal
    tags: dict[str, Any]
    tags_json: str
    sha: str
    status: str
    reason: str = ""

    @property
    def key(self) -> tuple[int | None, str, str]:
        return (self.tenant_id, "" if self.tenant_id is not None else self.tenant_slug, self.event_id)


_STAGE_DDL = """
CREATE TEMP TABLE IF NOT EXISTS usage_ingest_stage (
    ord integer NOT NULL,
    tenant_id bigint,
    tenant_slug varchar(64) NOT NULL,
    event_id varchar(128) NOT NULL,
    sku_id bigint,
    sku_code varchar(64) NOT NULL,
    project_id bigint,
    project_code varchar(64) NOT NULL,
    "timestamp" timestamptz NOT NULL,
    quantity numeric(38, 12) NOT NULL,
    tags jsonb NOT NULL,
    payload_sha256 varchar(64) NOT NULL,
    status varchar(16) NOT NULL,
    quarantine_reason varchar(64) NOT NULL,
    rating_batch_id bigint
) ON COMMIT DELETE ROWS
"""
_STAGE_COLUMNS = (
    'ord, tenant_id, tenant_slug, event_id, sku_id, sku_code, project_id, project_code, "timestamp", '
    "quantity, tags, payload_sha256, status, quarantine_reason, rating_batch_id"
)
_EVENT_COLUMNS = (
    'tenant_id, tenant_slug, event_id, sku_id, sku_code, project_id, project_code, "timestamp", quantity, '
    "tags, payload_sha256, status, quarantine_reason"
)


def _stage_cleared(cursor: Any) -> None:
    """ON COMMIT DELETE ROWS empties the staging table when the transaction ends, in place. Only when the
    caller's transaction is itself nested (another store may follow before that commit) is it emptied now:
    TRUNCATE gives the table a new file each time, which a plain request need not pay."""
    if len(connection.atomic_blocks) > 1:
        cursor.execute("TRUNCATE usage_ingest_stage")


def _batch_ids_by_tenant(cursor: Any, rows: list[StoredRow]) -> dict[int, int]:
    """One new RatingBatch id per tenant with accepted rows (ids of tenants whose rows all turn out to be
    already stored are simply never used)."""
    tenants = sorted(
        {row.tenant_id for row in rows if row.status == "accepted" and row.tenant_id is not None}
    )
    if not tenants:
        return {}
    cursor.execute(
        "SELECT nextval(pg_get_serial_sequence('billing_ratingbatch', 'id')) FROM generate_series(1, %s)",
        [len(tenants)],
    )
    return dict(zip(tenants, sorted(r[0] for r in cursor.fetchall()), strict=True))


def _batch_values(
    accepted: list[tuple[int, int, str, int]], rows: list[StoredRow], received_at: datetime
) -> list[tuple[Any, ...]]:
    """RatingBatch column values for the accepted rows just inserted, (id, tenant, event_id, batch) each.
    Timestamps come from the rows in hand, not parsed back from the database: an accepted row always has
    a tenant, and (tenant, event_id) is unique among the rows of one request."""
    at = {(row.tenant_id, row.event_id): row.timestamp for row in rows if row.status == "accepted"}
    by_batch: dict[int, list[tuple[int, int, str, int]]] = {}
    for item in accepted:
        by_batch.setdefault(item[3], []).append(item)
    values = []
    for batch_id, items in sorted(by_batch.items()):
        tenant_id = items[0][1]
        times = [at[(tenant_id, event_id)] for _pk, _tenant, event_id, _batch in items]
        ids = [pk for pk, *_rest in items]
        values.append(
            (
                batch_id,
                min(ids),
                max(ids),
                len(items),
                json.dumps([tenant_id]),
                tenant_id,
                min(times),
                max(times),
                received_at,
            )
        )
    return values


def store_postgresql(rows: list[StoredRow], *, received_at: datetime) -> dict[int, str]:
    """COPY the rows into a per-connection temporary table, insert what is new in one statement, and
    return {index: stored payload hash} for the rows that were already stored."""
    if not rows:
        return {}
    # The staging table keeps its rows only until the transaction ends: this must run inside one.
    assert connection.in_atomic_block, "store_postgresql needs a transaction (transaction.atomic)"
    with connection.cursor() as cursor:
        cursor.execute(_STAGE_DDL)
        batch_ids = _batch_ids_by_tenant(cursor, rows)
        with cursor.copy(f"COPY usage_ingest_stage ({_STAGE_COLUMNS}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(
                    (
                        row.index,
                        row.tenant_id,
                        row.tenant_slug,
                        row.event_id,
                        row.sku_id,
                        row.sku_code,
                        row.project_id,
                        row.project_code,
                        row.timestamp,
                        row.quantity,
                        row.tags_json,
                        row.sha,
                        row.status,
                        row.reason,
                        batch_ids.get(row.tenant_id) if row.status == "accepted" and row.tenant_id else None,
                    )
                )
        cursor.execute(  # built from the constant column lists above only
            f"INSERT INTO billing_usageevent ({_EVENT_COLUMNS}, late, received_at, rating_batch_id) "  # noqa: S608
            f"SELECT {_EVENT_COLUMNS}, false, %s, rating_batch_id "
            "FROM usage_ingest_stage ORDER BY tenant_id, ord "
            "ON CONFLICT DO NOTHING RETURNING id, tenant_id, event_id, rating_batch_id",
            [received_at],
        )
        returned = cursor.fetchall()
        inserted = {r[0] for r in returned}
        accepted = [r for r in returned if r[3] is not None]
        if accepted:
            cursor.executemany(
                "INSERT INTO billing_ratingbatch (id, first_event_id, last_event_id, event_count, tenant_ids, "
                "tenant_id, earliest_event_at, latest_event_at, source, status, created_at) "
                "VALUES (%s, %s, %s, %s, %s::jsonb, %s, %s, %s, 'ingest', 'pending', %s)",
                _batch_values(accepted, rows, received_at),
            )
        if len(inserted) == len(rows):
            _stage_cleared(cursor)
            return {}
        cursor.execute(
            "SELECT s.ord, e.id, e.payload_sha256 FROM usage_ingest_stage s "
            "JOIN billing_usageevent e ON e.tenant_id = s.tenant_id AND e.event_id = s.event_id "
            "WHERE s.tenant_id IS NOT NULL "
            "UNION ALL "
            "SELECT s.ord, e.id, e.payload_sha256 FROM usage_ingest_stage s "
            "JOIN billing_usageevent e ON e.tenant_id IS NULL AND e.tenant_slug = s.tenant_slug "
            "AND e.event_id = s.event_id WHERE s.tenant_id IS NULL"
        )
        existing = {ord_: sha for ord_, event_pk, sha in cursor.fetchall() if event_pk not in inserted}
        _stage_cleared(cursor)
    return existing


def store_portable(rows: list[StoredRow], *, received_at: datetime) -> dict[int, str]:
    """Same outcomes without COPY: read which keys are stored, then bulk-insert the rest. Correct because
    SQLite runs write transactions one at a time (IMMEDIATE mode), so nothing can slip in between."""
    if not rows:
        return {}
    stored: dict[tuple[int | None, str, str], str] = {}
    by_tenant: dict[int | None, list[StoredRow]] = {}
    for row in rows:
        by_tenant.setdefault(row.tenant_id, []).append(row)
    for tenant_id, group in by_tenant.items():
        for start in range(0, len(group), 500):
            chunk = group[start : start + 500]
            if tenant_id is None:
                qs = UsageEvent.objects.filter(
                    tenant__isnull=True,
                    tenant_slug__in={r.tenant_slug for r in chunk},
                    event_id__in=[r.event_id for r in chunk],
                )
                for slug, event_id, sha in qs.values_list("tenant_slug", "event_id", "payload_sha256"):
                    stored[(None, slug, event_id)] = sha
            else:
                qs = UsageEvent.objects.filter(tenant_id=tenant_id, event_id__in=[r.event_id for r in chunk])
                for event_id, sha in qs.values_list("event_id", "payload_sha256"):
                    stored[(tenant_id, "", event_id)] = sha
    existing: dict[int, str] = {}
    fresh: list[StoredRow] = []
    for row in rows:
        stored_sha = stored.get(row.key)
        if stored_sha is not None:
            existing[row.index] = stored_sha
        else:
            fresh.append(row)
    fresh.sort(key=lambda row: (row.tenant_id is None, row.tenant_id or 0, row.index))  # as on PostgreSQL
    batches: dict[int, RatingBatch] = {}
    for tenant_id in sorted({row.tenant_id for row in fresh if row.status == "accepted" and row.tenant_id}):
        accepted = [row for row in fresh if row.status == "accepted" and row.tenant_id == tenant_id]
        batches[tenant_id] = RatingBatch.objects.create(  # the id range is known once the events are in
            first_event_id=0,
            last_event_id=0,
            event_count=len(accepted),
            tenant_ids=[tenant_id],
            tenant_id=tenant_id,
            earliest_event_at=min(row.timestamp for row in accepted),
            latest_event_at=max(row.timestamp for row in accepted),
            created_at=received_at,
        )
    new: list[UsageEvent] = []
    for row in fresh:
        new.append(
            UsageEvent(
                tenant_id=row.tenant_id,
                tenant_slug=row.tenant_slug,
                event_id=row.event_id,
                sku_id=row.sku_id,
                sku_code=row.sku_code,
                project_id=row.project_id,
                project_code=row.project_code,
                timestamp=row.timestamp,
                quantity=row.quantity,
                tags=row.tags,
                payload_sha256=row.sha,
                status=row.status,
                quarantine_reason=row.reason,
                received_at=received_at,
                rating_batch=batches.get(row.tenant_id or 0) if row.status == "accepted" else None,
            )
        )
    created = UsageEvent.objects.bulk_create(new, batch_size=500)
    for batch in batches.values():
        ids = [event.pk for event in created if event.rating_batch_id == batch.pk]
        RatingBatch.objects.filter(pk=batch.pk).update(first_event_id=min(ids), last_event_id=max(ids))
    return existing
