"""Set-based rating of claimed batches on PostgreSQL: no per-event Python work, no per-event write.

The caller (``billing.rating.services.Rater.rate_batch``) holds the transaction and has claimed pending
``RatingBatch`` rows (``FOR UPDATE SKIP LOCKED``). Per call:

1. the version timeline of the batches' tenants is built once in Python, as disjoint windows
   ``(tenant, priced sku, [valid_from, valid_to), version, per_event)`` that give exactly the answer of
   ``VersionTimeline.version_at`` + ``prices`` (the last assignment started at or before the instant, unless
   it has ended; the last in-force version of its profile effective at or before it; the SKU priced by it),
   and COPYed into a temporary table; the tenants' closed billing periods that overlap the batches' event
   times go into another (usually empty);
2. one statement reads each batch's events by primary-key range (``rating_batch_id`` filters out other
   batches' interleaved ids), resolves them (version by a join on tenant, SKU and the time window,
   ``late`` when a closed period holds the timestamp, the unique_count tag value), groups them into the
   hourly buckets, keeps only the events that need more than their bucket (unique_count values, latest
   meters, late / per-event / version-less events) and returns the counts;
3. the buckets are upserted per aggregation kind, then the unique_count values stored;
4. the caller's ``after_upsert`` seam; then only the rare events that need it are written: quarantined
   (no version in force), flagged late, or given their version (per-event, i.e. percentage, prices).
   The caller marks the batches rated in the same transaction.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection

from billing.catalog.models import Sku
from billing.profiles.selectors import VersionTimeline, price_model
from billing.usage.models import Quarantine, RatingBatch
from common import metrics

_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS rating_timeline (tenant_id bigint, sku_id bigint, valid_from timestamptz, "
    "valid_to timestamptz, version_id bigint, per_event boolean, aggregation text, unique_tag text) "
    "ON COMMIT DELETE ROWS; "
    "CREATE TEMP TABLE IF NOT EXISTS rating_closed (tenant_id bigint, starts timestamptz, ends timestamptz) "
    "ON COMMIT DELETE ROWS; "
    "CREATE TEMP TABLE IF NOT EXISTS rating_resolved (id bigint, tenant_id bigint, sku_id bigint, "
    "ts timestamptz, hour timestamptz, quantity numeric(38, 12), pv bigint, per_event boolean, late boolean, "
    "aggregation text, value text, odd text) ON COMMIT DELETE ROWS; "
    "CREATE TEMP TABLE IF NOT EXISTS rating_buckets (tenant_id bigint, sku_id bigint, hour timestamptz, "
    "profile_version_id bigint, quantity numeric(38, 12), event_count bigint, first_event_at timestamptz, "
    "last_event_at timestamptz, aggregation text) ON COMMIT DELETE ROWS; "
    "CREATE TEMP TABLE IF NOT EXISTS rating_unique_buckets (id bigint, tenant_id bigint, sku_id bigint, "
    "hour timestamptz, pv bigint) ON COMMIT DELETE ROWS"
)

# UTC hours; and no wait for the WAL flush at commit: a rating transaction lost in a crash loses its batch
# marks with its aggregates (the batches are rated again), and any transaction that relied on it (a close
# reading the aggregates) commits later, which flushes the WAL past this one first.
_SESSION = (
    "SET LOCAL TIME ZONE 'UTC'; SET LOCAL synchronous_commit = off; SET LOCAL jit = off; "
    "SET LOCAL work_mem = '64MB'; SET LOCAL enable_mergejoin = off"
)

# The claimed tenants' closed periods that overlap the claimed batches' time span (read from the batch rows
# here, not parsed per claimed batch in Python).
_CLOSED = (
    'INSERT INTO rating_closed SELECT p.tenant_id, p.start, p."end" FROM billing_billingperiod p, '
    "(SELECT min(earliest_event_at) AS lo, max(latest_event_at) AS hi FROM billing_ratingbatch "
    "WHERE id = ANY(%s)) span "
    "WHERE p.status = 'closed' AND p.tenant_id = ANY(%s) AND p.start <= span.hi AND p.\"end\" > span.lo"
)

# One statement per call: each batch's events by primary-key range (LATERAL, fenced by OFFSET 0: one index
# range scan per batch; flattened, the planner scans the whole table), resolved (version by a join on
# tenant, SKU and time window; `late` when a closed period holds the timestamp; the unique_count tag value),
# materialised once, then (a) grouped into the hourly buckets: sum adds, count counts,
# max keeps the largest (latest is filled in by _LATEST, an ordered aggregate here would sort every event;
# unique_count by _VALUES); (b) only the events that need more than their bucket are kept in
# rating_resolved: unique_count values, latest meters, and the rare late, per-event-priced or version-less
# ones; (c) the counts and the buckets' aggregation kinds are returned. The tag value: `->>` gives the
# text of a JSON string; other scalars (numbers, booleans) are handed to Python's `tag_value` (json.dumps)
# through `odd`, so the text is the same on every path. Hours are truncated in the session time zone, set
# to UTC for the transaction. The closed-period test is left out when the batches' tenants have no closed
# period in range (the usual case).
_RESOLVE = """
WITH resolved AS MATERIALIZED (
    SELECT e.id, e.tenant_id, e.sku_id, e.ts, date_trunc('hour', e.ts) AS hour, e.quantity,
           t.version_id AS pv, coalesce(t.per_event, false) AS per_event,
           {late} AS late,
           t.aggregation,
           CASE WHEN t.unique_tag IS NOT NULL AND jsonb_typeof(e.tags -> t.unique_tag) = 'string'
                THEN e.tags ->> t.unique_tag END AS value,
           CASE WHEN t.unique_tag IS NOT NULL AND jsonb_typeof(e.tags -> t.unique_tag) NOT IN ('string', 'null')
                THEN (e.tags -> t.unique_tag)::text END AS odd
    FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[]) AS b(id, lo, hi)
    CROSS JOIN LATERAL (
        SELECT u.id, u.tenant_id, u.sku_id, u."timestamp" AS ts, u.quantity, u.tags
        FROM billing_usageevent u
        WHERE u.id BETWEEN b.lo AND b.hi AND u.rating_batch_id = b.id AND u.status = 'accepted'
        OFFSET 0
    ) e
    LEFT JOIN rating_timeline t
      ON t.tenant_id = e.tenant_id AND t.sku_id = e.sku_id
     AND t.valid_from <= e.ts AND (t.valid_to IS NULL OR e.ts < t.valid_to)
), buckets AS (
    INSERT INTO rating_buckets
    SELECT tenant_id, sku_id, hour, pv,
           CASE aggregation
               WHEN 'sum' THEN sum(quantity)
               WHEN 'count' THEN count(*)
               WHEN 'max' THEN max(quantity)
               ELSE 0
           END,
           count(*), min(ts), max(ts), aggregation
    FROM resolved WHERE pv IS NOT NULL
    GROUP BY tenant_id, sku_id, hour, pv, aggregation
), kept AS (
    INSERT INTO rating_resolved
    SELECT id, tenant_id, sku_id, ts, hour, quantity, pv, per_event, late, aggregation, value, odd
    FROM resolved
    WHERE pv IS NULL OR late OR per_event OR value IS NOT NULL OR odd IS NOT NULL OR aggregation = 'latest'
)
SELECT count(*), count(*) FILTER (WHERE pv IS NOT NULL), count(*) FILTER (WHERE pv IS NULL),
       count(*) FILTER (WHERE late), count(*) FILTER (WHERE per_event AND pv IS NOT NULL),
       count(*) FILTER (WHERE odd IS NOT NULL AND pv IS NOT NULL),
       coalesce(array_agg(DISTINCT tenant_id) FILTER (WHERE pv IS NOT NULL), '{{}}'),
       coalesce(array_agg(DISTINCT aggregation) FILTER (WHERE pv IS NOT NULL), '{{}}')
FROM resolved
"""
_LATE_BY_CLOSED_PERIOD = (
    "t.version_id IS NOT NULL AND EXISTS (SELECT 1 FROM rating_closed cp "
    "WHERE cp.tenant_id = e.tenant_id AND cp.starts <= e.ts AND e.ts < cp.ends)"
)

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

# unique_count, after the upsert (which noted the ids of the unique_count aggregate rows it touched): store
# the values not seen before in their bucket and add how many were new to the aggregate (whose quantity
# therefore always equals the number of distinct values stored for it; new aggregate rows start at 0). A
# statement-level trigger (usage_aggregate_value_has_bucket) checks that every inserted value has its
# aggregate row.
_VALUES = """
WITH added AS (
    INSERT INTO billing_usageaggregatevalue (aggregate_id, value)
    SELECT DISTINCT k.id, r.value FROM rating_resolved r
    JOIN rating_unique_buckets k
      ON k.tenant_id = r.tenant_id AND k.sku_id = r.sku_id AND k.hour = r.hour AND k.pv = r.pv
    WHERE r.value IS NOT NULL ORDER BY 1, 2
    ON CONFLICT DO NOTHING
    RETURNING aggregate_id
), counted AS (
    SELECT aggregate_id, count(*) AS n FROM added GROUP BY 1
)
UPDATE billing_usageaggregate a SET quantity = a.quantity + c.n
FROM counted c WHERE a.id = c.aggregate_id
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
_CLEAR = "TRUNCATE rating_timeline, rating_closed, rating_resolved, rating_buckets, rating_unique_buckets"


@dataclass
class SqlBatch:
    claimed: int = 0  # accepted events found in the claimed batches
    rated: int = 0
    quarantined: int = 0
    late: int = 0
    tenant_ids: set[int] = field(default_factory=set)

    def add(self, other: SqlBatch) -> None:
        self.claimed += other.claimed
        self.rated += other.rated
        self.quarantined += other.quarantined
        self.late += other.late
        self.tenant_ids |= other.tenant_ids


TimelineRow = tuple[int, int, datetime, datetime | None, int, bool, str, str | None]


def timeline_rows(tenant_ids: set[int], *, timeline: VersionTimeline | None = None) -> list[TimelineRow]:
    """(tenant, sku, valid_from, valid_to or None, version, priced per event, the SKU meter's aggregation,
    its unique_count tag or None) windows: disjoint per (tenant, sku), the same answer as
    `VersionTimeline(tenant_ids).version_at(tenant, at)` followed by `prices(version, sku.code)`, because
    they are `VersionTimeline.windows()` split by priced SKU. Carrying the meter here spares the per-event
    join to the SKU and meter tables (an event without a window is quarantined, its meter never read)."""
    timeline = timeline or VersionTimeline(tenant_ids)
    windows = list(timeline.windows())
    codes = {code for *_window, version in windows for code in timeline.priced_codes(version)}
    skus = {
        code: (pk, aggregation, tag if aggregation == "unique_count" else None)
        for code, pk, aggregation, tag in Sku.objects.filter(code__in=codes).values_list(
            "code", "id", "meter__aggregation", "meter__unique_tag"
        )
    }
    rows: list[TimelineRow] = []
    for tenant_id, lo, hi, version in windows:
        for code in sorted(timeline.priced_codes(version)):
            if code in skus:
                per_event = price_model(version.body, code) == "percentage"
                sku_id, aggregation, tag = skus[code]
                rows.append((tenant_id, sku_id, lo, hi, version.pk, per_event, aggregation, tag))
    return rows


UNVERIFIED = "profile version signature does not verify"


class VersionUnverified(Exception):
    """Some claimed batches hold usage that a version whose approval signature does not verify would price
    (billing.profiles.signatures): `waiting` maps each such batch to the reason. Raised before any write;
    the rater sets those batches aside (their usage waits, an alert is raised) and rates the others."""

    def __init__(self, waiting: dict[int, str]):
        super().__init__("; ".join(f"batch {pk}: {reason}" for pk, reason in sorted(waiting.items())))
        self.waiting = waiting


# The claimed batches' accepted events that fall in the window of a version that does not verify.
_WAITING = (
    "SELECT DISTINCT e.rating_batch_id, w.version_id FROM billing_usageevent e "
    "JOIN unnest(%s::bigint[], %s::bigint[], %s::timestamptz[], %s::timestamptz[], %s::bigint[]) "
    "AS w(tenant_id, sku_id, lo, hi, version_id) ON e.tenant_id = w.tenant_id AND e.sku_id = w.sku_id "
    'AND e."timestamp" >= w.lo AND (w.hi IS NULL OR e."timestamp" < w.hi) '
    "WHERE e.rating_batch_id = ANY(%s) AND e.id BETWEEN %s AND %s AND e.status = 'accepted'"
)


def _waiting_batches(
    cursor: Any, batches: Sequence[RatingBatch], rows: list[TimelineRow], unverified: dict[int, str]
) -> dict[int, str]:
    bad = [row for row in rows if row[4] in unverified]
    if not bad:
        return {}
    cursor.execute(
        _WAITING,
        [
            [r[0] for r in bad],
            [r[1] for r in bad],
            [r[2] for r in bad],
            [r[3] for r in bad],
            [r[4] for r in bad],
            [b.pk for b in batches],
            min(b.first_event_id for b in batches),
            max(b.last_event_id for b in batches),
        ],
    )
    waiting: dict[int, list[str]] = {}
    for batch_id, version_id in cursor.fetchall():
        waiting.setdefault(batch_id, []).append(unverified[version_id])
    return {pk: f"{UNVERIFIED}: " + "; ".join(sorted(reasons)) for pk, reasons in waiting.items()}


_QUANTITY_ON_CONFLICT: dict[str, str] = {
    "sum": "a.quantity + EXCLUDED.quantity",
    "count": "a.quantity + EXCLUDED.quantity",
    "max": "GREATEST(a.quantity, EXCLUDED.quantity)",
    "latest": "CASE WHEN EXCLUDED.last_event_at >= a.last_event_at THEN EXCLUDED.quantity ELSE a.quantity END",
    "unique_count": "a.quantity",  # new rows start at 0; _VALUES adds the values not seen before
}

_UPSERT = (
    "{capture}INSERT INTO billing_usageaggregate AS a (tenant_id, sku_id, hour, profile_version_id, "
    "quantity, event_count, first_event_at, last_event_at, updated_at) "
    "SELECT tenant_id, sku_id, hour, profile_version_id, quantity, event_count, first_event_at, "
    "last_event_at, %s FROM rating_buckets WHERE aggregation = %s "
    "ORDER BY tenant_id, sku_id, hour, profile_version_id "
    "ON CONFLICT (tenant_id, sku_id, hour, profile_version_id) DO UPDATE SET "
    "quantity = {quantity}, "
    "event_count = a.event_count + EXCLUDED.event_count, "
    "first_event_at = LEAST(a.first_event_at, EXCLUDED.first_event_at), "
    "last_event_at = GREATEST(a.last_event_at, EXCLUDED.last_event_at), "
    "updated_at = EXCLUDED.updated_at{returning}"
)
# unique_count: the upserted rows' ids, for _VALUES.
_CAPTURE = "WITH up AS ("
_CAPTURE_RETURNING = (
    " RETURNING a.id, a.tenant_id, a.sku_id, a.hour, a.profile_version_id) "
    "INSERT INTO rating_unique_buckets SELECT * FROM up"
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
    batch_ids = [batch.pk for batch in batches]
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
        looked_up = time.perf_counter()
        versions = VersionTimeline(set(tenant_ids))
        timeline = timeline_rows(set(tenant_ids), timeline=versions)  # ORM reads: before the COPY
        metrics.VERSION_LOOKUP_SECONDS.observe(time.perf_counter() - looked_up)  # once per batch
        if versions.unverified:  # usage a version that does not verify would price waits: nothing written
            waiting = _waiting_batches(cursor, batches, timeline, versions.unverified)
            if waiting:
                raise VersionUnverified(waiting)
        with cursor.copy(
            "COPY rating_timeline (tenant_id, sku_id, valid_from, valid_to, version_id, per_event, aggregation, "
            "unique_tag) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["int8", "int8", "timestamptz", "timestamptz", "int8", "bool", "text", "text"])
            for row in timeline:
                copy.write_row(row)
        cursor.execute(_CLOSED, [batch_ids, tenant_ids])
        any_closed = cursor.rowcount > 0
        cursor.execute(  # the only interpolation is one of two constant expressions
            _RESOLVE.format(late=_LATE_BY_CLOSED_PERIOD if any_closed else "false"),
            [
                batch_ids,
                [batch.first_event_id for batch in batches],
                [batch.last_event_id for batch in batches],
            ],
        )
        stats = cursor.fetchone()
        assert stats is not None
        result.claimed, result.rated, result.quarantined, result.late = stats[0], stats[1], stats[2], stats[3]
        per_event, odd_values, result.tenant_ids = stats[4], stats[5], set(stats[6])
        if odd_values:
            cursor.execute("SELECT id, odd FROM rating_resolved WHERE odd IS NOT NULL AND pv IS NOT NULL")
            odd = [(tag_value(json.loads(raw)), event_id) for event_id, raw in cursor.fetchall()]
            cursor.executemany("UPDATE rating_resolved SET value = %s WHERE id = %s", odd)
        kinds = sorted(stats[7])  # the buckets' aggregation kinds
        if "latest" in kinds:
            cursor.execute(_LATEST)
        for aggregation in kinds:  # one lock order for every worker: no deadlocks between batches
            unique = aggregation == "unique_count"
            cursor.execute(  # the only interpolations are the constant expressions above
                _UPSERT.format(
                    quantity=_QUANTITY_ON_CONFLICT[aggregation],
                    capture=_CAPTURE if unique else "",
                    returning=_CAPTURE_RETURNING if unique else "",
                ),
                [now, aggregation],
            )
        if "unique_count" in kinds:
            cursor.execute(_VALUES)
        after_upsert()
        if result.quarantined or result.late or per_event:
            cursor.execute(_NESTED_LOOP_ONLY)
            if result.late or per_event:
                cursor.execute(_MARK_EXCEPTIONS)
            if result.quarantined:
                cursor.execute(_MARK_QUARANTINED, [Quarantine.NO_PROFILE_VERSION])
            cursor.execute(_JOINS_DEFAULT)
        cursor.execute(_CLEAR)
    return result
