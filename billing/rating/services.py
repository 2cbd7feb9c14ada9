"""Rating: pending usage events -> hourly aggregates per (tenant, SKU, hour, profile version).

The unit of work is the RatingBatch the ingest wrote with each stored request (its events carry its id).
One rating transaction: claim pending batches up to a number of events (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, so workers run side by side), read their events, resolve the version in force at each event's
timestamp (assignments and versions loaded once, resolved in memory or in SQL), upsert the aggregates,
mark the *batches* rated, refresh the running estimates of the touched tenants. Event rows are not
rewritten: only the rare late, per-event-priced (percentage) or version-less (quarantined) events are.
On PostgreSQL all of it is set-based SQL over temporary tables, with no per-event Python
(``billing.rating.sql``); on SQLite (the ``make demo`` fallback) it runs in Python. A worker
killed anywhere in between rolls everything back: nothing is lost, nothing is counted twice.

Per meter aggregation within an hour bucket: ``sum`` adds quantities, ``count`` counts events, ``max`` keeps
the largest, ``latest`` keeps the quantity of the event with the latest timestamp (ties: the later rated),
``unique_count`` stores the distinct values of the meter's tag (UsageAggregateValue) and counts them."""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from billing.catalog.models import Meter, Sku
from billing.rating import sql as rating_sql
from billing.rating.estimates import usage_estimates_refresh
from billing.rating.models import UsageAggregate, UsageAggregateValue
from billing.rating.selectors import (
    VersionTimeline,
    closed_periods,
    oldest_pending_received_at,
    price_model,
)
from billing.usage import metrics
from billing.usage.ingest import Quarantine
from billing.usage.models import IngestRequest, RatingBatch, UsageEvent

logger = logging.getLogger(__name__)

BucketKey = tuple[int, int, datetime, int]  # tenant, sku, hour, profile version


@dataclass
class _Bucket:
    aggregation: str
    quantity: Decimal = Decimal(0)
    event_count: int = 0
    first: datetime | None = None
    last: datetime | None = None
    latest_key: tuple[datetime, int] | None = None
    values: set[str] = field(default_factory=set)

    def add(self, *, event_pk: int, at: datetime, quantity: Decimal, value: str | None) -> None:
        self.event_count += 1
        self.first = at if self.first is None or at < self.first else self.first
        self.last = at if self.last is None or at > self.last else self.last
        aggregation = self.aggregation
        if aggregation == Meter.Aggregation.SUM:
            self.quantity += quantity
        elif aggregation == Meter.Aggregation.COUNT:
            self.quantity += 1
        elif aggregation == Meter.Aggregation.MAX:
            self.quantity = quantity if self.event_count == 1 else max(self.quantity, quantity)
        elif aggregation == Meter.Aggregation.LATEST:
            if self.latest_key is None or (at, event_pk) > self.latest_key:
                self.latest_key = (at, event_pk)
                self.quantity = quantity
        elif value is not None:
            self.values.add(value)
            self.quantity = Decimal(len(self.values))


@dataclass
class RatingBatchResult:
    batches: int = 0  # RatingBatch rows claimed and marked rated
    claimed: int = 0  # their events
    rated: int = 0
    quarantined: int = 0
    late: int = 0
    tenant_ids: set[int] = field(default_factory=set)
    drained: bool = True  # False when pending batches may remain beyond this one


class _Clock:
    """Due once `interval` seconds have passed since the last time it was due (or since the process
    started: a worker that starts into a backlog first refreshes estimates an interval in)."""

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self.now = now
        self.last = now()

    def due(self, interval: float) -> bool:
        now = self.now()
        if now - self.last >= interval:
            self.last = now
            return True
        return False


_estimate_clock = _Clock()
_stale_estimates: set[int] = set()  # tenants rated since their estimate was last refreshed (this process)


def _after_aggregate_upsert() -> None:
    """Test seam: tests make this raise to kill a batch between the aggregate upsert and the marks."""


def tag_value(value: Any) -> str:
    """The text a unique_count meter counts for one tag value."""
    if isinstance(value, str):
        return value
    return json.dumps(value)


# Advisory-lock namespace of the per-tenant rating locks (the second key is the tenant id).
_TENANT_LOCK_NAMESPACE = 0x52415445


def claim_batches(limit: int) -> tuple[list[RatingBatch], bool]:
    """Lock pending batches until they hold at least `limit` events (or none is left that another worker
    has not taken). Returns them and whether the backlog looked drained."""
    if connection.vendor == "postgresql":
        return _claim_by_tenant(limit)
    return _claim_in_order(limit)


def _claim_in_order(limit: int) -> tuple[list[RatingBatch], bool]:
    """Oldest first, whatever their tenants."""
    claimed: list[RatingBatch] = []
    events = 0
    want = max(1, min(256, limit // 1000))
    while events < limit:
        query = RatingBatch.objects.select_for_update(skip_locked=True).filter(
            status=RatingBatch.Status.PENDING
        )
        if claimed:  # rows this transaction already locked are not skipped: move past them
            query = query.filter(pk__gt=claimed[-1].pk)
        found = list(query.order_by("pk")[:want])
        claimed.extend(found)
        events += sum(batch.event_count for batch in found)
        if len(found) < want:
            return claimed, True
        average = max(1, events // len(claimed))
        want = max(1, min(256, -(-(limit - events) // average)))
    return claimed, False


# What rating reads of a claimed batch on PostgreSQL. Its timestamps are left out: parsing three per batch
# was most of a claim's time (a 50,000-event claim of platform-key batches is ~400 rows); the statements
# that need them read them in SQL (the batches' time span, the rating lag).
_CLAIMED_FIELDS = ("id", "first_event_id", "last_event_id", "event_count", "tenant_ids", "tenant")


def _claim_by_tenant(limit: int) -> tuple[list[RatingBatch], bool]:
    """PostgreSQL: the oldest pending batch decides the tenant; the rater takes that tenant's advisory lock
    (try, never wait), then the tenant's pending batches oldest first, then the next tenant while there is
    room. A tenant whose lock another rater holds is passed over, so concurrent raters work on disjoint
    tenants and do not queue on each other's aggregate rows. Batches of several tenants (platform keys)
    are taken as they come. Correctness never depends on these locks (batch rows are claimed with
    SKIP LOCKED, aggregates are upserted in key order); they only keep raters apart. A batch locked and
    then passed over stays pending and is rated in a later transaction."""
    claimed: list[RatingBatch] = []
    held: list[int] = []  # batch rows this transaction locked (SKIP LOCKED does not skip our own)
    passed: set[int] = set()  # tenants taken or left to another rater
    events = 0
    while events < limit:
        head = (
            RatingBatch.objects.select_for_update(skip_locked=True)
            .only(*_CLAIMED_FIELDS)
            .filter(status=RatingBatch.Status.PENDING)
            .exclude(pk__in=held)
            .exclude(tenant_id__in=passed)
            .order_by("pk")
            .first()
        )
        if head is None:
            return claimed, True
        held.append(head.pk)
        if head.tenant_id is None:
            claimed.append(head)
            events += head.event_count
            continue
        passed.add(head.tenant_id)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_try_advisory_xact_lock(%s, (%s %% 2147483647)::int)",
                [_TENANT_LOCK_NAMESPACE, head.tenant_id],
            )
            row = cursor.fetchone()
        if not (row and row[0]):
            continue
        claimed.append(head)
        events += head.event_count
        last = head.pk
        while events < limit:
            want = max(1, min(256, -(-(limit - events) // max(1, head.event_count))))
            found = list(
                RatingBatch.objects.select_for_update(skip_locked=True)
                .only(*_CLAIMED_FIELDS)
                .filter(status=RatingBatch.Status.PENDING, tenant_id=head.tenant_id, pk__gt=last)
                .order_by("pk")[:want]
            )
            if not found:
                break
            claimed.extend(found)
            held.extend(batch.pk for batch in found)
            events += sum(batch.event_count for batch in found)
            last = found[-1].pk
    return claimed, False


def usage_rate_batch(*, limit: int | None = None, now: datetime | None = None) -> RatingBatchResult:
    """Rate pending batches holding about `limit` events (at least one batch) in one transaction."""
    limit = limit or settings.RATING_BATCH_SIZE
    started = time.perf_counter()
    result = RatingBatchResult()
    with transaction.atomic():
        now = now or timezone.now()
        batches, result.drained = claim_batches(limit)
        result.batches = len(batches)
        if not batches:
            if _stale_estimates:  # a backlog was just drained by full batches: catch the estimates up
                pending = set(_stale_estimates)
                usage_estimates_refresh(tenant_ids=pending, now=now)
                _stale_estimates.difference_update(pending)
            return result
        if connection.vendor == "postgresql":
            batch = rating_sql.rate_batches(
                batches,
                now=now,
                after_upsert=_after_aggregate_upsert,  # the test seam, looked up per call
                tag_value=tag_value,
            )
            result.claimed, result.rated, result.quarantined = batch.claimed, batch.rated, batch.quarantined
            result.late, result.tenant_ids = batch.late, batch.tenant_ids
        else:
            _rate_portable(batches, now=now, result=result)
        if result.quarantined:
            logger.warning(
                "%d events had no profile version in force at rating time: quarantined", result.quarantined
            )
        rated_at = timezone.now()  # after the upsert: when the cost is known
        lags = _mark_rated(batches, rated_at)
        _stale_estimates.update(result.tenant_ids)
        # Estimates follow every batch when rating keeps up (the backlog is drained), and at most every
        # RATING_ESTIMATE_INTERVAL_SECONDS while a backlog is worked off (pricing the open period after
        # each of many full batches would cost more than the rating itself).
        refreshed: set[int] = set()
        if _stale_estimates and (
            result.drained or _estimate_clock.due(settings.RATING_ESTIMATE_INTERVAL_SECONDS)
        ):
            refreshed = set(_stale_estimates)
            usage_estimates_refresh(tenant_ids=refreshed, now=now)
    _stale_estimates.difference_update(refreshed)  # only once committed

    for lag in lags:
        metrics.RATING_LAG_SECONDS.observe(max(0.0, lag))
    metrics.RATING_BATCH_SIZE.observe(result.claimed)
    metrics.RATING_BATCH_SECONDS.observe(time.perf_counter() - started)
    metrics.RATING_EVENTS.labels(outcome="rated").inc(result.rated)
    metrics.RATING_EVENTS.labels(outcome="quarantined").inc(result.quarantined)
    metrics.RATING_EVENTS.labels(outcome="late").inc(result.late)
    return result


def _mark_rated(batches: list[RatingBatch], rated_at: datetime) -> list[float]:
    """Mark the claimed batches rated; returns each one's rating lag (seconds from receipt to rated_at)."""
    ids = [batch.pk for batch in batches]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE billing_ratingbatch SET status = %s, rated_at = %s WHERE id = ANY(%s) "
                "RETURNING extract(epoch FROM rated_at - created_at)::float8",
                [RatingBatch.Status.RATED, rated_at, ids],
            )
            return [row[0] for row in cursor.fetchall()]
    RatingBatch.objects.filter(pk__in=ids).update(status=RatingBatch.Status.RATED, rated_at=rated_at)
    return [(rated_at - batch.created_at).total_seconds() for batch in batches]


def _rate_portable(batches: list[RatingBatch], *, now: datetime, result: RatingBatchResult) -> None:
    """The batches in Python (SQLite, the `make demo` fallback): read, resolve in memory, merge, mark."""
    claimed = _claimed_events(batches)
    result.claimed = len(claimed)
    if not claimed:
        return
    tenant_ids = {row[1] for row in claimed}
    timeline = VersionTimeline(tenant_ids)
    skus = {s.pk: s for s in Sku.objects.select_related("meter").filter(pk__in={row[2] for row in claimed})}
    unique_ids = [
        row[0] for row in claimed if skus[row[2]].meter.aggregation == Meter.Aggregation.UNIQUE_COUNT
    ]
    tags: dict[int, dict[str, Any]] = {}
    if unique_ids:
        tags = dict(UsageEvent.objects.filter(pk__in=unique_ids).values_list("id", "tags"))
    closed = closed_periods(tenant_ids=tenant_ids)

    buckets: dict[BucketKey, _Bucket] = {}
    marks: list[tuple[int, int | None, bool]] = []  # (event, version if priced per event, late)
    unrated: list[int] = []
    for event_pk, tenant_id, sku_id, at, quantity in claimed:
        sku = skus[sku_id]
        version = timeline.version_at(tenant_id, at)
        if version is None or not timeline.prices(version, sku.code):
            unrated.append(event_pk)
            continue
        late = any(start <= at < end for start, end in closed.get(tenant_id, ()))
        key = (tenant_id, sku_id, at.replace(minute=0, second=0, microsecond=0), version.pk)
        bucket = buckets.get(key)
        if bucket is None:
            bucket = buckets[key] = _Bucket(aggregation=sku.meter.aggregation)
        value = None
        if bucket.aggregation == Meter.Aggregation.UNIQUE_COUNT:
            raw = tags.get(event_pk, {}).get(sku.meter.unique_tag)
            value = None if raw is None else tag_value(raw)
        bucket.add(event_pk=event_pk, at=at, quantity=quantity, value=value)
        per_event = price_model(version.body, sku.code) == "percentage"
        if late or per_event:
            marks.append((event_pk, version.pk if per_event else None, late))
        result.tenant_ids.add(tenant_id)
        result.rated += 1
        result.late += late

    _upsert_portable(buckets, now=now)
    _after_aggregate_upsert()
    _mark(marks, unrated)
    result.quarantined = len(unrated)


@dataclass(frozen=True)
class RatingRun:
    claimed: int
    drained: bool  # False when the time budget ran out with events possibly still pending


def usage_rate_pending(*, batch_size: int | None = None, time_budget: float | None = None) -> RatingRun:
    """Rate batches until nothing is pending or the time budget is spent."""
    budget = settings.RATING_TASK_TIME_BUDGET_SECONDS if time_budget is None else time_budget
    batch_size = batch_size or settings.RATING_BATCH_SIZE
    deadline = time.monotonic() + budget
    total = 0
    while True:
        batch = usage_rate_batch(limit=batch_size)
        total += batch.claimed
        if batch.drained:
            return RatingRun(claimed=total, drained=True)
        if time.monotonic() >= deadline:
            return RatingRun(claimed=total, drained=False)


def usage_sweep(*, now: datetime | None = None) -> RatingRun | None:
    """The periodic safety net: when an event has waited longer than RATING_SWEEP_AFTER_SECONDS (a nudge
    was lost, e.g. Redis was down), rate what is pending now. Also forgets idempotency records older
    than their retention. Returns the run, or None when nothing was overdue."""
    now = now or timezone.now()
    IngestRequest.objects.filter(
        created_at__lt=now - timedelta(hours=settings.USAGE_IDEMPOTENCY_RETENTION_HOURS)
    ).delete()
    oldest = oldest_pending_received_at()
    if oldest is None or oldest > now - timedelta(seconds=settings.RATING_SWEEP_AFTER_SECONDS):
        return None
    logger.warning("rating sweeper: pending events since %s, rating them", oldest.isoformat())
    return usage_rate_pending()


# --- aggregate upserts ------------------------------------------------------------------------------


def _claimed_events(batches: list[RatingBatch]) -> list[tuple[int, int, int, datetime, Decimal]]:
    """The accepted events of the claimed batches, in id order (each batch read by its id range)."""
    rows: list[tuple[int, int, int, datetime, Decimal]] = []
    for batch in sorted(batches, key=lambda b: b.first_event_id):
        rows.extend(
            UsageEvent.objects.filter(
                pk__gte=batch.first_event_id,
                pk__lte=batch.last_event_id,
                rating_batch_id=batch.pk,
                status=UsageEvent.Status.ACCEPTED,
            )
            .order_by("pk")
            .values_list("id", "tenant_id", "sku_id", "timestamp", "quantity")
        )
    return rows


def _upsert_portable(buckets: dict[BucketKey, _Bucket], *, now: datetime) -> None:
    """The same merge in Python (SQLite stores decimals with float affinity, so no arithmetic in SQL)."""
    if not buckets:
        return
    keys = list(buckets)
    existing: dict[BucketKey, UsageAggregate] = {}
    for start in range(0, len(keys), 200):
        chunk = keys[start : start + 200]
        rows = UsageAggregate.objects.filter(
            tenant_id__in={k[0] for k in chunk},
            sku_id__in={k[1] for k in chunk},
            hour__in={k[2] for k in chunk},
            profile_version_id__in={k[3] for k in chunk},
        )
        for row in rows:
            row_key = (row.tenant_id, row.sku_id, row.hour, row.profile_version_id)
            if row_key in buckets:
                existing[row_key] = row
    to_create: list[UsageAggregate] = []
    to_update: list[UsageAggregate] = []
    for key, bucket in buckets.items():
        assert bucket.first is not None
        assert bucket.last is not None
        found = existing.get(key)
        if found is None:
            existing[key] = UsageAggregate(
                tenant_id=key[0],
                sku_id=key[1],
                hour=key[2],
                profile_version_id=key[3],
                quantity=Decimal(0)
                if bucket.aggregation == Meter.Aggregation.UNIQUE_COUNT
                else bucket.quantity,
                event_count=bucket.event_count,
                first_event_at=bucket.first,
                last_event_at=bucket.last,
                updated_at=now,
            )
            to_create.append(existing[key])
            continue
        row = found
        aggregation = bucket.aggregation
        if aggregation in (Meter.Aggregation.SUM, Meter.Aggregation.COUNT):
            row.quantity = row.quantity + bucket.quantity
        elif aggregation == Meter.Aggregation.MAX:
            row.quantity = max(row.quantity, bucket.quantity)
        elif aggregation == Meter.Aggregation.LATEST and bucket.last >= row.last_event_at:
            row.quantity = bucket.quantity
        row.event_count += bucket.event_count
        row.first_event_at = min(row.first_event_at, bucket.first)
        row.last_event_at = max(row.last_event_at, bucket.last)
        row.updated_at = now
        to_update.append(row)
    UsageAggregate.objects.bulk_create(to_create, batch_size=500)  # ids set: values refer to them
    unique = {
        key: existing[key] for key, b in buckets.items() if b.aggregation == Meter.Aggregation.UNIQUE_COUNT
    }
    values = [
        UsageAggregateValue(aggregate=row, value=v)
        for key, row in unique.items()
        for v in buckets[key].values
    ]
    if values:
        UsageAggregateValue.objects.bulk_create(values, ignore_conflicts=True, batch_size=500)
        counts = dict(
            UsageAggregateValue.objects.filter(aggregate__in=list(unique.values()))
            .values("aggregate_id")
            .annotate(n=Count("value"))
            .values_list("aggregate_id", "n")
        )
        created = {row.pk for row in to_create}
        for row in unique.values():
            row.quantity = Decimal(counts.get(row.pk, 0))
        to_update.extend(row for row in unique.values() if row.pk in created)  # the others are there
    UsageAggregate.objects.bulk_update(
        to_update,
        ["quantity", "event_count", "first_event_at", "last_event_at", "updated_at"],
        batch_size=500,
    )


def _mark(marks: list[tuple[int, int | None, bool]], unrated: list[int]) -> None:
    """The few per-event writes: late flags, versions of per-event-priced events, quarantines."""
    groups: dict[tuple[int | None, bool], list[int]] = defaultdict(list)
    for event_pk, version_pk, late in marks:
        groups[(version_pk, late)].append(event_pk)
    for (version_pk, late), ids in groups.items():
        for start in range(0, len(ids), 500):
            UsageEvent.objects.filter(pk__in=ids[start : start + 500]).update(
                late=late, profile_version_id=version_pk
            )
    for start in range(0, len(unrated), 500):
        UsageEvent.objects.filter(pk__in=unrated[start : start + 500]).update(
            status=UsageEvent.Status.QUARANTINED, quarantine_reason=Quarantine.NO_PROFILE_VERSION
        )
