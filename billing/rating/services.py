"""Rating: pending usage events -> hourly aggregates per (tenant, SKU, hour, profile version).

The unit of work is the RatingBatch the ingest wrote with each stored request (its events carry its id).
One rating transaction: claim pending batches up to a number of events (``FOR UPDATE SKIP LOCKED``, so
workers run side by side), resolve the version in force at each event's timestamp, upsert the aggregates,
mark the *batches* rated, refresh the running estimates of the touched tenants. Event rows are not
rewritten: only the rare late, per-event-priced (percentage) or version-less (quarantined) events are.
All of it is set-based SQL over temporary tables, with no per-event Python (``billing.rating.sql``). A
worker killed anywhere in between rolls everything back: nothing is lost, nothing is counted twice.

Per meter aggregation within an hour bucket: ``sum`` adds quantities, ``count`` counts events, ``max`` keeps
the largest, ``latest`` keeps the quantity of the event with the latest timestamp (ties: the later rated),
``unique_count`` stores the distinct values of the meter's tag (UsageAggregateValue) and counts them."""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg
from django.conf import settings
from django.db import DataError, IntegrityError, connection, transaction
from django.utils import timezone

from billing.rating import sql as rating_sql
from billing.rating.estimates import usage_estimates_refresh
from billing.usage.models import IngestRequest, Quarantine, RatingBatch
from billing.usage.selectors import oldest_pending_received_at
from common import metrics
from ledger.models import Alert
from ledger.services.alerts import alert_raise

logger = logging.getLogger(__name__)


@dataclass
class RatingBatchResult:
    batches: int = 0  # RatingBatch rows claimed and marked rated
    claimed: int = 0  # their events
    rated: int = 0
    quarantined: int = 0
    late: int = 0
    tenant_ids: set[int] = field(default_factory=set)
    failed: int = 0  # batches set aside (status failed, with their reasons)
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
    return _claim_by_tenant(limit)


# What rating reads of a claimed batch. Its timestamps are left out: parsing three per batch
# would be most of a claim's time (a 50,000-event claim of platform-key batches is ~400 rows); the statements
# that need them read them in SQL (the batches' time span, the rating lag).
_CLAIMED_FIELDS = ("id", "first_event_id", "last_event_id", "event_count", "tenant_ids", "tenant")


def _claim_by_tenant(limit: int) -> tuple[list[RatingBatch], bool]:
    """The oldest pending batch decides the tenant; the rater takes that tenant's advisory lock
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


class Rater:
    """A rating worker's state across its transactions: which tenants were rated since their running
    estimate was last refreshed, and the clock that spaces those refreshes while a backlog is worked off.
    `after_upsert` runs between the aggregate upsert and the batch marks (tests kill a batch there)."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        after_upsert: Callable[[], None] | None = None,
    ) -> None:
        self.estimate_clock = _Clock(clock)
        self.stale_estimates: set[int] = set()
        self.after_upsert = after_upsert or _nothing

    def rate_batch(self, *, limit: int | None = None, now: datetime | None = None) -> RatingBatchResult:
        """Rate pending batches holding about `limit` events (at least one batch) in one transaction."""
        limit = limit or settings.RATING_BATCH_SIZE
        started = time.perf_counter()
        result = RatingBatchResult()
        stale = self.stale_estimates
        with transaction.atomic():
            now = now or timezone.now()
            batches, result.drained = claim_batches(limit)
            result.batches = len(batches)
            if not batches:
                if stale:  # a backlog was just drained by full batches: catch the estimates up
                    pending = set(stale)
                    usage_estimates_refresh(tenant_ids=pending, now=now)
                    stale.difference_update(pending)
                return result
            batch, failed = self._rate_isolated(batches, now=now)
            result.claimed, result.rated, result.quarantined = batch.claimed, batch.rated, batch.quarantined
            result.late, result.tenant_ids = batch.late, batch.tenant_ids
            if failed:
                _set_aside(batches, failed, now=now)
                batches = [b for b in batches if b.pk not in failed]
                result.failed = len(failed)
            if result.quarantined:
                logger.warning(
                    "%d events had no profile version in force at rating time: quarantined",
                    result.quarantined,
                )
            rated_at = timezone.now()  # after the upsert: when the cost is known
            lags = mark_rated(batches, rated_at) if batches else []
            stale.update(result.tenant_ids)
            # Estimates follow every batch when rating keeps up (the backlog is drained), and at most every
            # RATING_ESTIMATE_INTERVAL_SECONDS while a backlog is worked off (pricing the open period after
            # each of many full batches would cost more than the rating itself).
            refreshed: set[int] = set()
            if stale and (
                result.drained or self.estimate_clock.due(settings.RATING_ESTIMATE_INTERVAL_SECONDS)
            ):
                refreshed = set(stale)
                usage_estimates_refresh(tenant_ids=refreshed, now=now)
        stale.difference_update(refreshed)  # only once committed

        _record(result, lags, seconds=time.perf_counter() - started)
        return result

    def _rate_isolated(
        self, batches: list[RatingBatch], *, now: datetime
    ) -> tuple[rating_sql.SqlBatch, dict[int, str]]:
        """Rate the claimed batches in a savepoint. When the database refuses the data (a numeric
        overflow, a missing parent), each batch is rated again alone in a savepoint of its own: the ones
        that still fail are returned with their reasons (to be set aside), and the others are rated."""
        try:
            with transaction.atomic():
                return self._rate(batches, now=now), {}
        except rating_sql.VersionUnverified as err:  # those batches wait; the others are rated
            rest = [b for b in batches if b.pk not in err.waiting]
            total, failed = self._rate_isolated(rest, now=now) if rest else (rating_sql.SqlBatch(), {})
            return total, {**failed, **err.waiting}
        except REFUSED_DATA as err:
            if len(batches) == 1:
                return rating_sql.SqlBatch(), {batches[0].pk: reason_of(err)}
            logger.warning("rating %d batches failed (%s); rating them one by one", len(batches), err)
        total, failed = rating_sql.SqlBatch(), {}
        for batch in batches:
            try:
                with transaction.atomic():
                    total.add(self._rate([batch], now=now))
            except rating_sql.VersionUnverified as err:
                failed.update(err.waiting)
            except REFUSED_DATA as err:
                failed[batch.pk] = reason_of(err)
        return total, failed

    def _rate(self, batches: list[RatingBatch], *, now: datetime) -> rating_sql.SqlBatch:
        return rating_sql.rate_batches(batches, now=now, after_upsert=self.after_upsert, tag_value=tag_value)

    def rate_pending(self, *, batch_size: int | None = None, time_budget: float | None = None) -> RatingRun:
        """Rate batches until nothing is pending or the time budget is spent."""
        budget = settings.RATING_TASK_TIME_BUDGET_SECONDS if time_budget is None else time_budget
        batch_size = batch_size or settings.RATING_BATCH_SIZE
        deadline = time.monotonic() + budget
        total = 0
        while True:
            batch = self.rate_batch(limit=batch_size)
            total += batch.claimed
            if batch.drained:
                return RatingRun(claimed=total, drained=True)
            if time.monotonic() >= deadline:
                return RatingRun(claimed=total, drained=False)


# Data the database refuses (a numeric overflow, a missing parent): set the batch aside. Rating's SQL runs
# on psycopg's own cursor, so its errors arrive unwrapped; deadlocks and lost connections are not here and
# roll the whole transaction back (the batches are claimed again).
# A batch holding usage of a version whose approval signature does not verify waits the same way (set aside
# with an alert of kind `signature`).
REFUSED_DATA = (
    DataError,
    IntegrityError,
    psycopg.errors.DataError,
    psycopg.errors.IntegrityError,
    rating_sql.VersionUnverified,
)


def _nothing() -> None:
    return None


def reason_of(err: Exception) -> str:
    if isinstance(err, rating_sql.VersionUnverified):
        return "; ".join(err.waiting.values())
    return f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}"


def _set_aside(batches: list[RatingBatch], failed: dict[int, str], *, now: datetime) -> None:
    """Mark the failed batches `failed` with their reasons and raise an alert per tenant: their events
    wait (a close of their period is blocked with `usage_pending`), the other batches are rated. A batch
    waiting for a version whose signature does not verify raises a `signature` alert."""
    for batch in batches:
        reason = failed.get(batch.pk)
        if reason is None:
            continue
        batch.status, batch.failed_at, batch.failure_reason = RatingBatch.Status.FAILED, now, reason
        batch.save(update_fields=["status", "failed_at", "failure_reason"])
        metrics.RATING_FAILURES.labels(stage="batch").inc()
        kind = Alert.Kind.SIGNATURE if reason.startswith(rating_sql.UNVERIFIED) else Alert.Kind.RATING
        if kind == Alert.Kind.SIGNATURE:
            metrics.SIGNATURE_FAILURES.labels(stage="rating").inc()
        for tenant_id in sorted({int(t) for t in batch.tenant_ids}):
            alert_raise(
                kind=kind,
                tenant_id=tenant_id,
                message=f"rating batch {batch.pk} ({batch.event_count} events) set aside: {reason}",
                now=now,
            )


@functools.cache
def process_rater() -> Rater:
    """The rater of this process (a Celery worker's tasks share its estimate bookkeeping)."""
    return Rater()


def usage_rate_batch(
    *, limit: int | None = None, now: datetime | None = None, rater: Rater | None = None
) -> RatingBatchResult:
    """Rate pending batches holding about `limit` events (at least one batch) in one transaction."""
    return (rater or process_rater()).rate_batch(limit=limit, now=now)


def mark_rated(batches: list[RatingBatch], rated_at: datetime) -> list[tuple[float, int]]:
    """Mark the claimed batches rated; returns each one's rating lag (seconds from receipt to rated_at)
    and its number of events."""
    ids = [batch.pk for batch in batches]
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE billing_ratingbatch SET status = %s, rated_at = %s WHERE id = ANY(%s) "
            "RETURNING extract(epoch FROM rated_at - created_at)::float8, event_count",
            [RatingBatch.Status.RATED, rated_at, ids],
        )
        return [(float(lag), int(events)) for lag, events in cursor.fetchall()]


def _record(result: RatingBatchResult, lags: list[tuple[float, int]], *, seconds: float) -> None:
    """A committed rating transaction's metrics: a few calls per transaction, none per event. The SLI
    counter weighs each ingest batch's lag by its events (met: rated within RATING_LAG_SLO_SECONDS)."""
    slo = settings.RATING_LAG_SLO_SECONDS
    met = missed = 0
    for lag, events in lags:
        metrics.RATING_LAG_SECONDS.observe(max(0.0, lag))
        if lag <= slo:
            met += events
        else:
            missed += events
    metrics.RATING_SLO_EVENTS.labels(result="met").inc(met)
    metrics.RATING_SLO_EVENTS.labels(result="missed").inc(missed)
    metrics.RATING_BATCH_SIZE.observe(result.claimed)
    metrics.RATING_BATCH_SECONDS.observe(seconds)
    metrics.RATING_EVENTS.labels(outcome="rated").inc(result.rated)
    metrics.RATING_EVENTS.labels(outcome="quarantined").inc(result.quarantined)
    metrics.RATING_EVENTS.labels(outcome="late").inc(result.late)
    if result.quarantined:
        metrics.QUARANTINED_EVENTS.labels(stage="rating", reason=Quarantine.NO_PROFILE_VERSION).inc(
            result.quarantined
        )


@dataclass(frozen=True)
class RatingRun:
    claimed: int
    drained: bool  # False when the time budget ran out with events possibly still pending


def usage_rate_pending(
    *, batch_size: int | None = None, time_budget: float | None = None, rater: Rater | None = None
) -> RatingRun:
    """Rate batches until nothing is pending or the time budget is spent."""
    return (rater or process_rater()).rate_pending(batch_size=batch_size, time_budget=time_budget)


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
