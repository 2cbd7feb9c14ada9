"""Set-based rating of one batch on PostgreSQL: no per-event Python work, no per-event data round trip.

The caller (``billing.services.rating.usage_rate_batch``) holds the transaction. Per batch:

1. claim: ``INSERT INTO rating_claimed SELECT ... FROM billing_usageevent WHERE status = 'pending'
   ORDER BY received_at LIMIT n FOR UPDATE SKIP LOCKED`` (the rows stay locked until the commit);
2. the version timeline of the claimed tenants is built once in Python, as disjoint windows
   ``(tenant, priced sku, [valid_from, valid_to), version)`` that give exactly the answer of
   ``VersionTimeline.version_at`` + ``prices`` (the last assignment started at or before the instant, unless
   it has ended; the last in-force version of its profile effective at or before it; the SKU priced by it),
   and COPYed into a temporary table;
3. one statement resolves every claimed event (version by a join on tenant, SKU and the time window; ``late``
   when a closed billing period of the tenant holds its timestamp; the unique_count tag value);
4. one ``GROUP BY`` builds the hourly buckets, which are upserted per aggregation kind as before;
5. the caller's ``after_upsert`` seam, then two ``UPDATE ... FROM`` mark the events rated / quarantined.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection

from billing.models import ProfileAssignment, ProfileVersion, Sku
from billing.services.ingest import Quarantine

_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS rating_claimed (id bigint, tenant_id bigint, sku_id bigint, "
    "ts timestamptz, quantity numeric(38, 12), tags jsonb) ON COMMIT DELETE ROWS; "
    "CREATE TEMP TABLE IF NOT EXISTS rating_timeline (tenant_id bigint, sku_id bigint, valid_from timestamptz, "
    "valid_to timestamptz, version_id bigint) ON COMMIT DELETE ROWS; "
    "CREATE TEMP TABLE IF NOT EXISTS rating_resolved (id bigint, tenant_id bigint, sku_id bigint, "
    "ts timestamptz, hour timestamptz, quantity numeric(38, 12), pv bigint, late boolean, aggregation text, "
    "value text, odd text) ON COMMIT DELETE ROWS; "
    "CREATE TEMP TABLE IF NOT EXISTS rating_buckets (tenant_id bigint, sku_id bigint, hour timestamptz, "
    "profile_version_id bigint, quantity numeric(38, 12), event_count bigint, first_event_at timestamptz, "
    "last_event_at timestamptz, aggregation text) ON COMMIT DELETE ROWS"
)

_CLAIM = (
    'INSERT INTO rating_claimed SELECT e.id, e.tenant_id, e.sku_id, e."timestamp", e.quantity, e.tags '
    "FROM billing_usageevent e WHERE e.status = 'pending' ORDER BY e.received_at LIMIT %s "
    "FOR UPDATE SKIP LOCKED"
)

# The tag value a unique_count meter counts: `->>` gives the text of a JSON string; other scalars (numbers,
# booleans) are handed to Python's `tag_value` (json.dumps) through `odd`, so the text is the same as before.
_RESOLVE = """
INSERT INTO rating_resolved
SELECT c.id, c.tenant_id, c.sku_id, c.ts, date_trunc('hour', c.ts, 'UTC'), c.quantity, t.version_id,
       t.version_id IS NOT NULL AND EXISTS (
           SELECT 1 FROM billing_billingperiod p
           WHERE p.tenant_id = c.tenant_id AND p.status = 'closed' AND p.start <= c.ts AND c.ts < p."end"),
       m.aggregation,
       CASE WHEN m.aggregation = 'unique_count' AND jsonb_typeof(c.tags -> m.unique_tag) = 'string'
            THEN c.tags ->> m.unique_tag END,
       CASE WHEN m.aggregation = 'unique_count'
             AND jsonb_typeof(c.tags -> m.unique_tag) NOT IN ('string', 'null')
            THEN (c.tags -> m.unique_tag)::text END
FROM rating_claimed c
LEFT JOIN billing_sku s ON s.id = c.sku_id
LEFT JOIN billing_meter m ON m.id = s.meter_id
LEFT JOIN rating_timeline t
  ON t.tenant_id = c.tenant_id AND t.sku_id = c.sku_id
 AND t.valid_from <= c.ts AND (t.valid_to IS NULL OR c.ts < t.valid_to)
"""

# Per bucket, as `_Bucket.add`: sum adds, count counts, max keeps the largest, latest keeps the quantity of
# the event with the largest (timestamp, id); unique_count is recounted from the stored values afterwards.
_BUCKETS = """
INSERT INTO rating_buckets
SELECT tenant_id, sku_id, hour, pv,
       CASE aggregation
           WHEN 'sum' THEN sum(quantity)
           WHEN 'count' THEN count(*)
           WHEN 'max' THEN max(quantity)
           WHEN 'latest' THEN (array_agg(quantity ORDER BY ts DESC, id DESC)
                               FILTER (WHERE aggregation = 'latest'))[1]
           ELSE 0
       END,
       count(*), min(ts), max(ts), aggregation
FROM rating_resolved WHERE pv IS NOT NULL
GROUP BY tenant_id, sku_id, hour, pv, aggregation
"""

_VALUES = (
    "INSERT INTO billing_usageaggregatevalue (tenant_id, sku_id, hour, profile_version_id, value) "
    "SELECT DISTINCT tenant_id, sku_id, hour, pv, value FROM rating_resolved "
    "WHERE pv IS NOT NULL AND value IS NOT NULL ORDER BY 1, 2, 3, 4, 5 ON CONFLICT DO NOTHING"
)

_MARK_RATED = (
    "UPDATE billing_usageevent e SET status = 'rated', profile_version_id = r.pv, late = r.late, "
    "rated_at = %s FROM rating_resolved r WHERE e.id = r.id AND r.pv IS NOT NULL"
)
_MARK_QUARANTINED = (
    "UPDATE billing_usageevent e SET status = 'quarantined', quarantine_reason = %s "
    "FROM rating_resolved r WHERE e.id = r.id AND r.pv IS NULL"
)
_NESTED_LOOP_ONLY = "SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off"
_JOINS_DEFAULT = "SET LOCAL enable_hashjoin TO DEFAULT; SET LOCAL enable_mergejoin TO DEFAULT"
_STATS = (
    "SELECT count(*) FILTER (WHERE pv IS NOT NULL), count(*) FILTER (WHERE pv IS NULL), "
    "count(*) FILTER (WHERE late), coalesce(array_agg(DISTINCT tenant_id) FILTER (WHERE pv IS NOT NULL), "
    "'{}') FROM rating_resolved"
)
_CLEAR = "TRUNCATE rating_claimed, rating_timeline, rating_resolved, rating_buckets"


@dataclass
class SqlBatch:
    claimed: int = 0
    rated: int = 0
    quarantined: int = 0
    late: int = 0
    tenant_ids: set[int] = field(default_factory=set)


TimelineRow = tuple[int, int, datetime, datetime | None, int]


def _window_end(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def timeline_rows(tenant_ids: set[int]) -> list[TimelineRow]:
    """(tenant, sku, valid_from, valid_to or None, version) windows: disjoint per (tenant, sku), the same
    answer as `VersionTimeline(tenant_ids).version_at(tenant, at)` followed by `prices(version, sku.code)`
    (same queries, same ordering, so the same choice between rows with equal starts)."""
    by_tenant: dict[int, list[ProfileAssignment]] = defaultdict(list)
    for assignment in ProfileAssignment.objects.filter(tenant_id__in=tenant_ids).order_by(
        "tenant_id", "effective_from"
    ):
        by_tenant[assignment.tenant_id].append(assignment)
    profile_ids = {a.profile_id for rows in by_tenant.values() for a in rows}
    by_profile: dict[int, list[ProfileVersion]] = defaultdict(list)
    for version in ProfileVersion.objects.filter(
        profile_id__in=profile_ids, status__in=ProfileVersion.IN_FORCE_STATUSES
    ).order_by("profile_id", "effective_from"):
        by_profile[version.profile_id].append(version)
    codes = {
        str(e.get("sku")) for rows in by_profile.values() for v in rows for e in v.body.get("prices", [])
    }
    sku_ids = dict(Sku.objects.filter(code__in=codes).values_list("code", "id"))
    rows: list[TimelineRow] = []
    for tenant_id, assignments in by_tenant.items():
        for i, assignment in enumerate(assignments):
            # version_at picks the last assignment starting at or before the instant (bisect_right)
            a_from = assignment.effective_from
            next_from = assignments[i + 1].effective_from if i + 1 < len(assignments) else None
            a_to = _window_end(assignment.effective_to, next_from)
            if a_to is not None and a_to <= a_from:
                continue
            versions = by_profile.get(assignment.profile_id, [])
            for j, version in enumerate(versions):
                v_from = version.effective_from
                v_to = versions[j + 1].effective_from if j + 1 < len(versions) else None
                lo = max(a_from, v_from)
                hi = _window_end(a_to, v_to)
                if hi is not None and hi <= lo:
                    continue
                priced = {str(e.get("sku")) for e in version.body.get("prices", [])}
                for code in sorted(priced):
                    if code in sku_ids:
                        rows.append((tenant_id, sku_ids[code], lo, hi, version.pk))
    return rows


_QUANTITY_ON_CONFLICT: dict[str, str] = {
    "sum": "a.quantity + EXCLUDED.quantity",
    "count": "a.quantity + EXCLUDED.quantity",
    "max": "GREATEST(a.quantity, EXCLUDED.quantity)",
    "latest": "CASE WHEN EXCLUDED.last_event_at >= a.last_event_at THEN EXCLUDED.quantity ELSE a.quantity END",
    "unique_count": "a.quantity",  # recounted from the stored values below
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

_RECOUNT = (
    "UPDATE billing_usageaggregate a SET quantity = "
    "(SELECT count(*) FROM billing_usageaggregatevalue v "
    "WHERE v.tenant_id = a.tenant_id AND v.sku_id = a.sku_id AND v.hour = a.hour "
    "AND v.profile_version_id = a.profile_version_id) "
    "FROM rating_buckets k WHERE k.aggregation = 'unique_count' AND a.tenant_id = k.tenant_id "
    "AND a.sku_id = k.sku_id AND a.hour = k.hour AND a.profile_version_id = k.profile_version_id"
)


def rate_batch(
    *,
    limit: int,
    now: datetime,
    rated_at: Callable[[], datetime],
    after_upsert: Callable[[], None],
    tag_value: Callable[[object], str],
) -> SqlBatch:
    """Rate up to `limit` pending events inside the caller's transaction (see the module docstring)."""
    result = SqlBatch()
    connection.ensure_connection()
    with connection.connection.cursor() as cursor:
        cursor.execute(_DDL)
        cursor.execute(_CLAIM, [limit])
        result.claimed = max(cursor.rowcount, 0)
        if not result.claimed:
            return result
        cursor.execute("SELECT DISTINCT tenant_id FROM rating_claimed")
        tenant_ids = sorted(row[0] for row in cursor.fetchall() if row[0] is not None)
        # Serialise with period close, which holds the tenant row FOR UPDATE while it reads the
        # aggregates and marks the period closed: KEY SHARE waits for such a close to commit (so the
        # next statement sees the period closed and flags the events late), and makes a close that
        # starts now wait for this batch (so it invoices these events). Without it an event rated
        # during a close could be neither invoiced nor flagged late.
        cursor.execute(
            "SELECT id FROM tenants_tenant WHERE id = ANY(%s) ORDER BY id FOR KEY SHARE", [tenant_ids]
        )
        timeline = timeline_rows(set(tenant_ids))  # ORM reads: before the COPY
        with cursor.copy(
            "COPY rating_timeline (tenant_id, sku_id, valid_from, valid_to, version_id) "
            "FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["int8", "int8", "timestamptz", "timestamptz", "int8"])
            for row in timeline:
                copy.write_row(row)
        cursor.execute(_RESOLVE)
        cursor.execute("SELECT id, odd FROM rating_resolved WHERE odd IS NOT NULL AND pv IS NOT NULL")
        odd = [(tag_value(json.loads(raw)), event_id) for event_id, raw in cursor.fetchall()]
        if odd:
            cursor.executemany("UPDATE rating_resolved SET value = %s WHERE id = %s", odd)
        cursor.execute(_BUCKETS)
        cursor.execute("SELECT DISTINCT aggregation FROM rating_buckets")
        kinds = sorted(row[0] for row in cursor.fetchall())
        for aggregation in kinds:  # one lock order for every worker: no deadlocks between batches
            cursor.execute(  # the only interpolation is a constant expression from _QUANTITY_ON_CONFLICT
                _UPSERT.format(quantity=_QUANTITY_ON_CONFLICT[aggregation]), [now, aggregation]
            )
        if "unique_count" in kinds:
            cursor.execute(_VALUES)
            cursor.execute(_RECOUNT)
        after_upsert()
        # The temporary table has no statistics: left alone, the planner hashes the whole usage table (a
        # sequential scan of every stored event per batch). One primary-key probe per claimed event instead.
        cursor.execute(_NESTED_LOOP_ONLY)
        cursor.execute(_MARK_RATED, [rated_at()])  # after the upsert: when the cost is known
        cursor.execute(_MARK_QUARANTINED, [Quarantine.NO_PROFILE_VERSION])
        cursor.execute(_JOINS_DEFAULT)
        cursor.execute(_STATS)
        stats = cursor.fetchone()
        assert stats is not None
        result.rated, result.quarantined, result.late = stats[0], stats[1], stats[2]
        result.tenant_ids = set(stats[3])
        cursor.execute(_CLEAR)
    return result
