"""Set-based rating of claimed batches on PostgreSQL: no per-event Python work, no per-event write.

The caller (``billing.services.rating.usage_rate_batch``) holds the transaction and has claimed pending
``RatingBatch`` rows (``FOR UPDATE SKIP LOCKED``). Per call:

1. the version timeline of the batches' tenants is built once in Python, as disjoint windows
   ``(tenant, priced sku, [valid_from, valid_to), version, per_event)`` that give exactly the answer of
   ``VersionTimeline.version_at`` + ``prices`` (the last assignment started at or before the instant, unless
   it has ended; the last in-force version of its profile effective at or before it; the SKU priced by it),
   and COPYed into a temporary table; the tenants' closed billing periods that overlap the batches' event
   times go into another (usually empty);
2. one statement reads each batch's events by primary-key range (``rating_batch_id`` filters out other
   batches' interleaved ids) and resolves them: version by a join on tenant, SKU and the time window,
   ``late`` when a closed period holds the timestamp, the unique_count tag value;
3. one ``GROUP BY`` builds the hourly buckets, which are upserted per aggregation kind;
4. the caller's ``after_upsert`` seam; then only the rare events that need it are written: quarantined
   (no version in force), flagged late, or given their version (per-event, i.e. percentage, prices).
   The caller marks the batches rated in the same transaction.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection

from billing.models import RatingBatch, Sku
from billing.selectors.usage import VersionTimeline, price_model
from billing.services.ingest import Quarantine

_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS rating_timeline (tenant_id bigint, sku_id bigint, valid_from timestamptz, "
    "valid_to timestamptz, version_id bigint, per_event boolean) ON COMMIT DELETE ROWS; "
    "CREATE TEMP TABLE IF NOT EXISTS rating_closed (tenant_id bigint, starts timestamptz, ends timestamptz) "
    "ON COMMIT DELETE ROWS; "
    "CREATE TEMP TABLE IF NOT EXISTS rating_resolved (id bigint, tenant_id bigint, sku_id bigint, "
    "ts timestamptz, hour timestamptz, quantity numeric(38, 12), pv bigint, per_event boolean, late boolean, "
    "aggregation text, value text, odd text) ON COMMIT DELETE ROWS; "
    "CREATE TEMP TABLE IF NOT EXISTS rating_buckets (tenant_id bigint, sku_id bigint, hour timestamptz, "
    "profile_version_id bigint, quantity numeric(38, 12), event_count bigint, first_event_at timestamptz, "
    "last_event_at timestamptz, aggregation text) ON COMMIT DELETE ROWS"
)

# UTC hours; and no wait for the WAL flush at commit: a rating transaction lost in a crash loses its batch
# marks with its aggregates (the batches are rated again), and any transaction that relied on it (a close
# reading the aggregates) commits later, which flushes the WAL past this one first.
_SESSION = "SET LOCAL TIME ZONE 'UTC'; SET LOCAL synchronous_commit = off"

_CLOSED = (
    'INSERT INTO rating_closed SELECT tenant_id, start, "end" FROM billing_billingperiod '
    "WHERE status = 'closed' AND tenant_id = ANY(%s) AND start <= %s AND \"end\" > %s"
)

# Each batch's events by primary-key range (LATERAL, fenced by OFFSET 0: one index range scan per batch;
# flattened, the planner scans the whole table), gathered once, then resolved with one hash join each. The
# tag value a unique_count meter counts: `->>` gives the text of a JSON string; other scalars (numbers,
# booleans) are handed to Python's `tag_value` (json.dumps) through `odd`, so the text is the same on
# every path. Hours are truncated in the session time zone, set to UTC for the transaction.
_RESOLVE = """
WITH claimed AS MATERIALIZED (
    SELECT e.* FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[]) AS b(id, lo, hi)
    CROSS JOIN LATERAL (
        SELECT u.id, u.tenant_id, u.sku_id, u."timestamp" AS ts, u.quantity, u.tags
        FROM billing_usageevent u
        WHERE u.id BETWEEN b.lo AND b.hi AND u.rating_batch_id = b.id AND u.status = 'accepted'
        OFFSET 0
    ) e
)
INSERT INTO rating_resolved
SELECT e.id, e.tenant_id, e.sku_id, e.ts, date_trunc('hour', e.ts), e.quantity, t.version_id,
       coalesce(t.per_event, false), t.version_id IS NOT NULL AND cp.tenant_id IS NOT NULL,
       m.aggregation,
       CASE WHEN m.aggregation = 'unique_count' AND jsonb_typeof(e.tags -> m.unique_tag) = 'string'
            THEN e.tags ->> m.unique_tag END,
       CASE WHEN m.aggregation = 'unique_count'
             AND jsonb_typeof(e.tags -> m.unique_tag) NOT IN ('string', 'null')
            THEN (e.tags -> m.unique_tag)::text END
FROM claimed e
LEFT JOIN billing_sku s ON s.id = e.sku_id
LEFT JOIN billing_meter m ON m.id = s.meter_id
LEFT JOIN rating_timeline t
  ON t.tenant_id = e.tenant_id AND t.sku_id = e.sku_id
 AND t.valid_from <= e.ts AND (t.valid_to IS NULL OR e.ts < t.valid_to)
LEFT JOIN rating_closed cp ON cp.tenant_id = e.tenant_id AND cp.starts <= e.ts AND e.ts < cp.ends
"""

# Per bucket, as `_Bucket.add`: sum adds, count counts, max keeps the largest; latest is filled in by
# _LATEST (an ordered aggregate here would sort every claimed event); unique_count by _VALUES.
_BUCKETS = """
INSERT INTO rating_buckets
SELECT tenant_id, sku_id, hour, pv,
       CASE aggregation
           WHEN 'sum' THEN sum(quantity)
           WHEN 'count' THEN count(*)
           WHEN 'max' THEN max(quantity)
           ELSE 0
       END,
       count(*), min(ts), max(ts), aggregation
FROM rating_resolved WHERE pv IS NOT NULL
GROUP BY tenant_id, sku_id, hour, pv, aggregation
"""

# latest: the quantity of the bucket's event with the largest (timestamp, id).
_LATEST = """
UPDATE rating_buckets k SET quantity = l.quantity
FROM (
    SELECT DISTINCT ON (tenant_id, sku_id, hour, pv) tenant_id, sku_id, hour, pv, quantity
    FROM rating_resolved WHERE aggregation = 'latest' AND pv IS NOT NULL
    ORDER BY tenant_id, sku_id, hour, pv, ts DESC, id DESC
) l
WHERE k.aggregation = 'latest' AND k.tenant_id = l.tenant_id AND k.sku_id = l.sku_id AND k.hour = l.hour
  AND k.profile_version_id = l.pv
"""

# unique_count, after the upsert: store the values not seen before in their bucket and add how many were
# new to the aggregate (whose quantity therefore always equals the number of distinct values stored for it;
# new aggregate rows start at 0). On PostgreSQL a statement-level trigger checks that every inserted value
# has its aggregate row (migration 0009).
_VALUES = """
WITH added AS (
    INSERT INTO billing_usageaggregatevalue (tenant_id, sku_id, hour, profile_version_id, value)
    SELECT DISTINCT tenant_id, sku_id, hour, pv, value FROM rating_resolved
    WHERE pv IS NOT NULL AND value IS NOT NULL ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT DO NOTHING
    RETURNING tenant_id, sku_id, hour, profile_version_id
), counted AS (
    SELECT tenant_id, sku_id, hour, profile_version_id, count(*) AS n FROM added GROUP BY 1, 2, 3, 4
)
UPDATE billing_usageaggregate a SET quantity = a.quantity + c.n
FROM counted c
WHERE a.tenant_id = c.tenant_id AND a.sku_id = c.sku_id AND a.hour = c.hour
  AND a.profile_version_id = c.profile_version_id
"""

# The rare per-event writes (a primary-key probe each, forced: the temporary table has no statistics and
# the planner would otherwise hash the whole usage table).
_MARK_EXCEPTIONS = (
    "UPDATE billing_usageevent e SET late = r.late, "
    "profile_version_id = CASE WHEN r.per_event THEN r.pv ELSE e.profile_version_id END "
    "FROM rating_resolved r WHERE e.id = r.id AND r.pv IS NOT NULL AND (r.late OR r.per_event)"
)
_MARK_QUARANTINED = (
    "UPDATE billing_usageevent e SET status = 'quarantined', quarantine_reason = %s "
    "FROM rating_resolved r WHERE e.id = r.id AND r.pv IS NULL"
)
_NESTED_LOOP_ONLY = "SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off"
_JOINS_DEFAULT = "SET LOCAL enable_hashjoin TO DEFAULT; SET LOCAL enable_mergejoin TO DEFAULT"
_STATS = (
    "SELECT count(*), count(*) FILTER (WHERE pv IS NOT NULL), count(*) FILTER (WHERE pv IS NULL), "
    "count(*) FILTER (WHERE late), count(*) FILTER (WHERE per_event AND pv IS NOT NULL), "
    "coalesce(array_agg(DISTINCT tenant_id) FILTER (WHERE pv IS NOT NULL), '{}') FROM rating_resolved"
)
_CLEAR = "TRUNCATE rating_timeline, rating_closed, rating_resolved, rating_buckets"


@dataclass
class SqlBatch:
    claimed: int = 0  # accepted events found in the claimed batches
    rated: int = 0
    quarantined: int = 0
    late: int = 0
    tenant_ids: set[int] = field(default_factory=set)


TimelineRow = tuple[int, int, datetime, datetime | None, int, bool]


def timeline_rows(tenant_ids: set[int]) -> list[TimelineRow]:
    """(tenant, sku, valid_from, valid_to or None, version, priced per event) windows: disjoint per
    (tenant, sku), the same answer as `VersionTimeline(tenant_ids).version_at(tenant, at)` followed by
    `prices(version, sku.code)`, because they are `VersionTimeline.windows()` split by priced SKU."""
    timeline = VersionTimeline(tenant_ids)
    windows = list(timeline.windows())
    codes = {code for *_window, version in windows for code in timeline.priced_codes(version)}
    sku_ids = dict(Sku.objects.filter(code__in=codes).values_list("code", "id"))
    rows: list[TimelineRow] = []
    for tenant_id, lo, hi, version in windows:
        for code in sorted(timeline.priced_codes(version)):
            if code in sku_ids:
                per_event = price_model(version.body, code) == "percentage"
                rows.append((tenant_id, sku_ids[code], lo, hi, version.pk, per_event))
    return rows


_QUANTITY_ON_CONFLICT: dict[str, str] = {
    "sum": "a.quantity + EXCLUDED.quantity",
    "count": "a.quantity + EXCLUDED.quantity",
    "max": "GREATEST(a.quantity, EXCLUDED.quantity)",
    "latest": "CASE WHEN EXCLUDED.last_event_at >= a.last_event_at THEN EXCLUDED.quantity ELSE a.quantity END",
    "unique_count": "a.quantity",  # new rows start at 0; _VALUES adds the values not seen before
}

_UPSERT = (
    "INSERT INTO billing_usageaggregate AS a (tenant_id, sku_id, hour, profile_version_id, "
    "quantity, event_count, first_event_at, last_event_at, updated_at) "
    "SELECT tenant_id, sku_id, hour, profile_version_id, quantity, event_count, first_event_at, "
    "last_event_at, %s FROM rating_buckets WHERE aggregation = %s "
    "ORDER BY tenant_id, sku_id, hour, profile_version_id "
    "ON CONFLICT (tenant_id, sku_id, hour, profile_version_id) DO UPDATE SET "
    "quantity = {quantity}, "
    "event_count = a.event_count + EXCLUDED.event_count, "
    "first_event_at = LEAST(a.first_event_at, EXCLUDED.first_event_at), "
    "last_event_at = GREATEST(a.last_event_at, EXCLUDED.last_event_at), "
    "updated_at = EXCLUDED.updated_at"
)


def rate_batches(
    batches: Sequence[RatingBatch],
    *,
    now: datetime,
    after_upsert: Callable[[], None],
    tag_value: Callable[[object], str],
) -> SqlBatch:
    """Rate the events of the claimed `batches` inside the caller's transaction (module docstring)."""
    result = SqlBatch()
    if not batches:
        return result
    tenant_ids = sorted({int(t) for batch in batches for t in batch.tenant_ids})
    earliest = min(batch.earliest_event_at for batch in batches)
    latest = max(batch.latest_event_at for batch in batches)
    connection.ensure_connection()
    with connection.connection.cursor() as cursor:
        cursor.execute(_DDL)
        cursor.execute(_SESSION)
        # Serialise with period close, which holds the tenant row FOR UPDATE while it reads the
        # aggregates and marks the period closed: KEY SHARE waits for such a close to commit (so the
        # closed periods read next include it and the events are flagged late), and makes a close that
        # starts now wait for this batch (so it invoices these events). Without it an event rated
        # during a close could be neither invoiced nor flagged late.
        cursor.execute(
            "SELECT id FROM tenants_tenant WHERE id = ANY(%s) ORDER BY id FOR KEY SHARE", [tenant_ids]
        )
        timeline = timeline_rows(set(tenant_ids))  # ORM reads: before the COPY
        with cursor.copy(
            "COPY rating_timeline (tenant_id, sku_id, valid_from, valid_to, version_id, per_event) "
            "FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["int8", "int8", "timestamptz", "timestamptz", "int8", "bool"])
            for row in timeline:
                copy.write_row(row)
        cursor.execute(_CLOSED, [tenant_ids, latest, earliest])
        cursor.execute(
            _RESOLVE,
            [
                [batch.pk for batch in batches],
                [batch.first_event_id for batch in batches],
                [batch.last_event_id for batch in batches],
            ],
        )
        cursor.execute("SELECT id, odd FROM rating_resolved WHERE odd IS NOT NULL AND pv IS NOT NULL")
        odd = [(tag_value(json.loads(raw)), event_id) for event_id, raw in cursor.fetchall()]
        if odd:
            cursor.executemany("UPDATE rating_resolved SET value = %s WHERE id = %s", odd)
        cursor.execute(_BUCKETS)
        cursor.execute("SELECT DISTINCT aggregation FROM rating_buckets")
        kinds = sorted(row[0] for row in cursor.fetchall())
        if "latest" in kinds:
            cursor.execute(_LATEST)
        for aggregation in kinds:  # one lock order for every worker: no deadlocks between batches
            cursor.execute(  # the only interpolation is a constant expression from _QUANTITY_ON_CONFLICT
                _UPSERT.format(quantity=_QUANTITY_ON_CONFLICT[aggregation]), [now, aggregation]
            )
        if "unique_count" in kinds:
            cursor.execute(_VALUES)
        after_upsert()
        cursor.execute(_STATS)
        stats = cursor.fetchone()
        assert stats is not None
        result.claimed, result.rated, result.quarantined, result.late = stats[0], stats[1], stats[2], stats[3]
        per_event, result.tenant_ids = stats[4], set(stats[5])
        if result.quarantined or result.late or per_event:
            cursor.execute(_NESTED_LOOP_ONLY)
            if result.late or per_event:
                cursor.execute(_MARK_EXCEPTIONS)
            if result.quarantined:
                cursor.execute(_MARK_QUARANTINED, [Quarantine.NO_PROFILE_VERSION])
            cursor.execute(_JOINS_DEFAULT)
        cursor.execute(_CLEAR)
    return result
