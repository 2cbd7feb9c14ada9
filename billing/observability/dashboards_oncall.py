"""The on-call dashboard's figures, platform-wide (finance-only reads). Definitions in docs/dashboards.md.

- Pipeline lag: the age of the oldest pending rating batch (its events' receipt) and the backlog in events
  (batches rating set aside raise alerts of kind rating).
- Quarantine rate: events quarantined / events stored (accepted + quarantined), received in the last 24 h,
  overall and per hour. Accepted events are counted from the rating batches the ingest wrote with them.
- Ingest errors by reason (24 h): quarantined events by reason (every request), and rejected or conflicting
  events by reason from the stored responses of requests sent with an Idempotency-Key (requests without
  one leave no row: their rejections are in the billing_ingest_events_total counter only).
- Firing alerts: open alerts (firing or acknowledged) through ledger.alerts.selectors.
- Recent profile changes (versions submitted or decided) and rollouts, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import Count, Sum
from django.db.models.functions import Coalesce, TruncHour

from billing.observability.forecast import rate_percent
from billing.profiles.models import ProfileVersion
from billing.profiles.rollout_models import Rollout
from billing.usage.models import IngestRequest, RatingBatch, UsageEvent
from billing.usage.selectors import oldest_pending_received_at, pending_backlog
from ledger.alerts.selectors import alerts_open
from ledger.models import Alert

WINDOW = timedelta(hours=24)
RECENT = 10
ALERTS_SHOWN = 20
# Rating batches are numbered in the order their ingest transactions drew ids, which commit within
# seconds of each other: the first batch of a window is searched by id from this much earlier, and the
# rows are then filtered on created_at exactly.
BATCH_ORDER_SLACK = timedelta(minutes=10)


@dataclass(frozen=True)
class HourRate:
    hour: datetime
    stored: int
    quarantined: int

    @property
    def rate(self) -> Decimal | None:
        return rate_percent(self.quarantined, self.stored)


@dataclass(frozen=True)
class ReasonCount:
    outcome: str  # quarantined | rejected | conflict
    reason: str
    events: int


@dataclass(frozen=True)
class OnCall:
    now: datetime
    lag_seconds: int | None  # None: nothing waits for rating
    backlog_events: int
    hours: list[HourRate]  # the last 24 hours, oldest first
    errors: list[ReasonCount]
    alerts: list[Alert]
    alerts_open: int
    alerts_by_severity: dict[str, int]
    versions: list[ProfileVersion]
    rollouts: list[Rollout]

    @property
    def stored(self) -> int:
        return sum(h.stored for h in self.hours)

    @property
    def quarantined(self) -> int:
        return sum(h.quarantined for h in self.hours)

    @property
    def quarantine_rate(self) -> Decimal | None:
        return rate_percent(self.quarantined, self.stored)


def window_start(now: datetime) -> datetime:
    """The last 24 h as 24 clock hours: from the start of the hour 23 hours before `now`'s to `now`."""
    return now.replace(minute=0, second=0, microsecond=0) - (WINDOW - timedelta(hours=1))


def first_batch_id_since(since: datetime) -> int | None:
    """An id from which every rating batch created at or after `since - BATCH_ORDER_SLACK` is found, by a
    binary search over the primary key (created_at has no index: ingest pays for every index on the table);
    None when no batch is that recent."""
    bound = since - BATCH_ORDER_SLACK
    batches = RatingBatch.objects.order_by("id")
    last = RatingBatch.objects.order_by("-id").values_list("id", "created_at").first()
    if last is None or last[1] < bound:
        return None
    low = batches.values_list("id", flat=True).first() or 0
    high = last[0]
    while low < high:
        mid = (low + high) // 2
        probe = batches.filter(id__gte=mid).values_list("id", "created_at").first()
        assert probe is not None  # the last batch qualifies
        if probe[1] >= bound:
            high = mid
        else:
            low = probe[0] + 1
    return low


def hourly_quarantine(*, now: datetime) -> list[HourRate]:
    """Per clock hour of the window: events stored (accepted + quarantined) and quarantined."""
    start = window_start(now)
    accepted: dict[datetime, int] = {}
    first_id = first_batch_id_since(start)
    if first_id is not None:
        rows = (
            RatingBatch.objects.filter(
                id__gte=first_id, created_at__gte=start, created_at__lte=now, source=RatingBatch.Source.INGEST
            )
            .annotate(hour=TruncHour("created_at"))
            .values_list("hour")
            .annotate(n=Sum("event_count"))
            .order_by()
        )
        accepted = {hour: int(n) for hour, n in rows}
    quarantined = {
        hour: int(n)
        for hour, n in UsageEvent.objects.filter(
            status=UsageEvent.Status.QUARANTINED, received_at__gte=start, received_at__lte=now
        )
        .annotate(hour=TruncHour("received_at"))
        .values_list("hour")
        .annotate(n=Count("id"))
        .order_by()
    }
    hours = []
    for i in range(24):
        hour = start + timedelta(hours=i)
        q = quarantined.get(hour, 0)
        hours.append(HourRate(hour=hour, stored=accepted.get(hour, 0) + q, quarantined=q))
    return hours


_ERRORS_SQL = """
SELECT item->>'status', COALESCE(item->>'reason', ''), COUNT(*)
FROM {table} r, jsonb_array_elements(r.response_body::jsonb -> 'results') AS item
WHERE r.created_at >= %s AND r.created_at <= %s
  AND (strpos(r.response_body, '"rejected":') > 0 OR strpos(r.response_body, '"conflict":') > 0)
  AND item->>'status' IN ('rejected', 'conflict')
GROUP BY 1, 2
"""


def ingest_errors(*, now: datetime) -> list[ReasonCount]:
    """Quarantined events by reason, then rejected and conflicting events by reason (requests with an
    Idempotency-Key only), most first. Only responses whose counts name a rejection or a conflict (a byte
    search for the key `"rejected":` or `"conflict":`, which only the counts object holds) are parsed as
    JSON."""
    start = window_start(now)
    found = [
        ReasonCount("quarantined", reason, int(n))
        for reason, n in UsageEvent.objects.filter(
            status=UsageEvent.Status.QUARANTINED, received_at__gte=start, received_at__lte=now
        )
        .values_list("quarantine_reason")
        .annotate(n=Count("id"))
        .order_by()
    ]
    with connection.cursor() as cursor:
        cursor.execute(_ERRORS_SQL.format(table=IngestRequest._meta.db_table), [start, now])
        found += [ReasonCount(status, reason, int(n)) for status, reason, n in cursor.fetchall()]
    return sorted(found, key=lambda r: (-r.events, r.outcome, r.reason))


def recent_versions() -> list[ProfileVersion]:
    """The latest profile versions submitted or decided (approved, rejected, superseded, rolled back)."""
    return list(
        ProfileVersion.objects.exclude(status=ProfileVersion.Status.DRAFT)
        .select_related("profile", "author", "decided_by")
        .annotate(changed_at=Coalesce("decided_at", "submitted_at", "created_at"))
        .order_by("-changed_at", "-pk")[:RECENT]
    )


def recent_rollouts() -> list[Rollout]:
    return list(Rollout.objects.select_related("version__profile").order_by("-created_at", "-pk")[:RECENT])


def oncall_dashboard(*, now: datetime) -> OnCall:
    oldest = oldest_pending_received_at()
    open_alerts = alerts_open()
    by_severity = dict(open_alerts.order_by().values_list("severity").annotate(n=Count("id")))
    return OnCall(
        now=now,
        lag_seconds=max(0, int((now - oldest).total_seconds())) if oldest is not None else None,
        backlog_events=pending_backlog(),
        hours=hourly_quarantine(now=now),
        errors=ingest_errors(now=now),
        alerts=list(open_alerts.select_related("tenant")[:ALERTS_SHOWN]),
        alerts_open=sum(by_severity.values()),
        alerts_by_severity={k: int(v) for k, v in by_severity.items()},
        versions=recent_versions(),
        rollouts=recent_rollouts(),
    )
