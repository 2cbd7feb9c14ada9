"""Scrape-time gauges (docs/operations.md, "Metrics"): what the database and the broker hold now, read
once per scrape by `/metrics` (config.metrics adds `BillingCollector` to the scrape's registry, never to
a process's own, so under multiprocess mode they are not multiplied by the number of workers).

- pipeline lag: the age of the oldest unrated ingest batch, and the unrated events (queue depth) with the
  backpressure limit they are held against;
- the Celery queue's length in Redis, when the broker is Redis and answers (fails soft);
- quarantined events held now, by reason; blocked invoices, by the kind of their first reason;
- open alerts by kind;
- `billing_metrics_source_up{source}`: 0 when the database or Redis could not be read (their gauges are
  then left out of that scrape, never reported as 0).

The database reads run in one read-only transaction with a statement timeout, so a slow database costs a
scrape at most METRICS_COLLECT_TIMEOUT_MS."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

import redis
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Count
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from billing.usage.models import Quarantine
from billing.usage.selectors import oldest_pending_received_at, pending_backlog, quarantine_groups
from common.breaker import redis_breaker
from ledger.models import Alert, Invoice

logger = logging.getLogger(__name__)

# A blocked invoice's reason (free text, "; "-joined) is counted under the kind of its first reason: the
# first entry whose words it contains (the texts come from billing.close.compute).
BLOCKED_KINDS: tuple[tuple[str, str], ...] = (
    ("no tax rule", "tax_rule"),
    ("exchange rate", "fx_rate"),
    ("signature", "signature"),
    ("correction", "correction"),
    ("profile version", "price_list"),
    ("pricing sku", "price_list"),
)


# Every reason of billing.usage.models.Quarantine, reported (as 0) even when none is held.
QUARANTINE_REASONS = tuple(
    value for name, value in vars(Quarantine).items() if name.isupper() and isinstance(value, str)
)


def blocked_kind(reason: str) -> str:
    """The bounded label of a blocked invoice's reason (`other` when no entry of BLOCKED_KINDS fits)."""
    first = reason.split("; ", maxsplit=1)[0].lower()
    return next((kind for words, kind in BLOCKED_KINDS if words in first), "other")


@dataclass
class Snapshot:
    """What one scrape read. None: that source could not be read."""

    oldest_pending_age: float | None = None
    pending_events: int | None = None
    quarantined: dict[str, int] = field(default_factory=dict)
    blocked: dict[str, int] = field(default_factory=dict)
    alerts_open: dict[str, int] = field(default_factory=dict)
    celery_queue: int | None = None
    database_up: bool = False
    redis_up: bool | None = None  # None: the broker is not Redis (nothing to read)


def read_database(*, now: datetime) -> Snapshot:
    """The database's part of a scrape (raises DatabaseError when it cannot be read)."""
    snapshot = Snapshot()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "SET TRANSACTION READ ONLY; SELECT set_config('statement_timeout', %s, true)",
                [str(settings.METRICS_COLLECT_TIMEOUT_MS)],
            )
        oldest = oldest_pending_received_at()
        snapshot.oldest_pending_age = max(0.0, (now - oldest).total_seconds()) if oldest else 0.0
        snapshot.pending_events = pending_backlog()
        quarantined: Counter[str] = Counter()
        for group in quarantine_groups():
            quarantined[group.reason.split(":")[0]] += group.events  # a missing tag's name left out
        snapshot.quarantined = dict(quarantined)
        reasons = Invoice.objects.filter(status=Invoice.Status.BLOCKED).values_list(
            "blocked_reason", flat=True
        )
        snapshot.blocked = dict(Counter(blocked_kind(reason) for reason in reasons))
        snapshot.alerts_open = {
            row["kind"]: row["n"]
            for row in Alert.objects.filter(resolved_at__isnull=True).values("kind").annotate(n=Count("id"))
        }
    snapshot.database_up = True
    return snapshot


def celery_queue_length() -> int | None:
    """The default Celery queue's length in the Redis broker; None when the broker is not Redis or does not
    answer (a timeout opens common.breaker's breaker: the next scrapes skip Redis for a moment)."""
    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return None

    def llen() -> int:
        client = redis.Redis.from_url(url, **settings.REDIS_CLIENT_OPTIONS)
        try:
            return int(client.llen(settings.METRICS_CELERY_QUEUE))
        finally:
            client.close()

    return redis_breaker.fail_open(llen, default=None, what="celery queue length")


class BillingCollector(Collector):
    """The scrape-time gauges (module docstring). `describe` names them without reading anything."""

    def __init__(self, *, now: Callable[[], datetime] = timezone.now) -> None:
        self._now = now

    def describe(self) -> Iterator[Metric]:
        yield from self._families(Snapshot(), seconds=0.0, with_samples=False)

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        try:
            snapshot = read_database(now=self._now())
        except DatabaseError as err:
            logger.warning("metrics: the database could not be read: %s", err)
            snapshot = Snapshot()
        broker_is_redis = settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://", "unix://"))
        if broker_is_redis:
            snapshot.celery_queue = celery_queue_length()
            snapshot.redis_up = snapshot.celery_queue is not None
        yield from self._families(snapshot, seconds=time.perf_counter() - started, with_samples=True)

    def _families(self, s: Snapshot, *, seconds: float, with_samples: bool) -> Iterator[Metric]:
        lag = GaugeMetricFamily(
            "billing_rating_oldest_pending_age_seconds",
            "Age of the oldest ingest batch not rated yet (0 when nothing waits): the pipeline lag",
        )
        pending = GaugeMetricFamily(
            "billing_rating_pending_events", "Events stored and not rated yet (the rating queue's depth)"
        )
        limit = GaugeMetricFamily(
            "billing_rating_backlog_limit_events",
            "USAGE_BACKLOG_MAX_PENDING: unrated events beyond which ingest answers 503 (0: no limit)",
        )
        queue = GaugeMetricFamily(
            "billing_celery_queue_messages",
            "Messages waiting in the Celery queue (Redis broker)",
            labels=["queue"],
        )
        held = GaugeMetricFamily(
            "billing_quarantine_held_events",
            "Events held in quarantine now (not billed until re-attributed), by reason",
            labels=["reason"],
        )
        blocked = GaugeMetricFamily(
            "billing_invoices_blocked",
            "Invoices blocked now, by the kind of their first reason",
            labels=["reason"],
        )
        alerts = GaugeMetricFamily(
            "billing_alerts_open", "Open (firing or acknowledged) alerts by kind", labels=["kind"]
        )
        up = GaugeMetricFamily(
            "billing_metrics_source_up", "1 when this scrape could read the source, else 0", labels=["source"]
        )
        took = GaugeMetricFamily(
            "billing_metrics_collect_seconds", "Time this scrape spent reading its sources"
        )
        if with_samples:
            limit.add_metric([], settings.USAGE_BACKLOG_MAX_PENDING)
            up.add_metric(["database"], 1.0 if s.database_up else 0.0)
            took.add_metric([], seconds)
            if s.redis_up is not None:
                up.add_metric(["redis"], 1.0 if s.redis_up else 0.0)
            if s.celery_queue is not None:
                queue.add_metric([settings.METRICS_CELERY_QUEUE], s.celery_queue)
            if s.database_up:
                lag.add_metric([], s.oldest_pending_age or 0.0)
                pending.add_metric([], s.pending_events or 0)
                for reason in sorted(set(QUARANTINE_REASONS) | set(s.quarantined)):
                    held.add_metric([reason], s.quarantined.get(reason, 0))
                for reason in sorted({kind for _words, kind in BLOCKED_KINDS} | {"other"} | set(s.blocked)):
                    blocked.add_metric([reason], s.blocked.get(reason, 0))
                for kind in sorted(set(Alert.Kind.values) | set(s.alerts_open)):
                    alerts.add_metric([kind], s.alerts_open.get(kind, 0))
        yield from (lag, pending, limit, queue, held, blocked, alerts, up, took)
