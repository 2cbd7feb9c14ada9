"""Durable, deduplicated storage of a validated batch (the ingest service's write path).

COPY into a per-connection temporary staging table, then one
`INSERT ... SELECT ... ON CONFLICT DO NOTHING RETURNING`. It returns the stored payload hash of every
event that was already there, so the caller can tell duplicates from conflicts. It also records the
accepted events that were inserted as pending RatingBatch rows, one per tenant of the request, in the
same transaction: those rows are rating's work items (see billing.rating.services). Events are inserted
tenant by tenant (request order within a tenant), so each tenant's batch covers a compact id range even
when a platform key sends several tenants' events at once; one-tenant batches let raters work on
disjoint tenants side by side."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import connection


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


def store_batch(rows: list[StoredRow], *, received_at: datetime) -> dict[int, str]:
    """COPY the rows into a per-connection temporary table, insert what is new in one statement, and
    return {index: stored payload hash} for the rows that were already stored."""
    if not rows:
        return {}
    # The staging table keeps its rows only until the transaction ends: this must run inside one.
    assert connection.in_atomic_block, "store_batch needs a transaction (transaction.atomic)"
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
                "tenant_id, earliest_event_at, latest_event_at, source, status, created_at, failure_reason) "
                "VALUES (%s, %s, %s, %s, %s::jsonb, %s, %s, %s, 'ingest', 'pending', %s, '')",
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
