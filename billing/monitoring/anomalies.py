"""Spend anomalies: each tenant's hourly and day-to-date usage per SKU, judged against its own trailing
baseline (billing.monitoring.detect), fires `anomaly` alerts naming the SKU and the projects and tag values
that carry the increase, and resolves them once the usage is back to normal (docs/alerts-evaluation.md).

Each run (beat, every ANOMALY_EVAL_INTERVAL_SECONDS) judges, per tenant with recently rated usage or an
open anomaly alert, and per SKU with at least ANOMALY_MIN_HISTORY_DAYS of history:
- hourly: the current hour so far and the latest complete hour, each against the baseline of the same
  local hour (key "<sku>:hourly"; the partial hour is held against the whole hour's baseline, so it can
  only fire once what has already arrived is anomalous);
- daily: the local day so far, against the same span of the previous days (key "<sku>:daily").
An ongoing anomaly keeps its one open alert (dedup by key), so it notifies once and again when it
resolves. Spend = quantity x the SKU's average unit cost in the running estimate; an increase below
ANOMALY_MIN_SPEND_DELTA (in the currency's major unit) is not worth an alert."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone

from billing.catalog.models import Sku
from billing.monitoring.detect import (
    Baseline,
    DetectParams,
    Verdict,
    carriers,
    fit_daily,
    fit_hourly,
    hourly_may_fire,
)
from billing.monitoring.selectors import (
    estimates_current,
    first_usage_hours,
    hourly_usage,
    tenants_with_open_alerts,
    tenants_with_recent_estimates,
    window_by_project,
    window_by_tag,
)
from common import metrics
from common.errors import ApplicationError
from common.money import quantize_money
from common.money_format import format_money
from common.periods import zone_or_utc
from ledger.alerts.services import alert_fire, alerts_resolve_except
from ledger.models import Alert
from tenants.models import Tenant

logger = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
METHOD = (
    "robust seasonal baseline: log(spend + offset), median per local hour of day (+ weekday effect), "
    "1.4826 x MAD of the residuals"
)


def detect_params() -> DetectParams:
    return DetectParams(
        z_threshold=Decimal(settings.ANOMALY_Z_THRESHOLD),
        min_ratio=Decimal(settings.ANOMALY_MIN_RATIO),
        min_history_days=settings.ANOMALY_MIN_HISTORY_DAYS,
    )


@dataclass(frozen=True)
class Window:
    """One judged window of one SKU."""

    kind: str  # "hourly" | "daily"
    start: datetime  # UTC
    end: datetime  # UTC (exclusive; the current hour's end even while it runs)
    verdict: Verdict
    reference_start: datetime  # the same window one day earlier (for the breakdown)


@dataclass
class AnomalyRun:
    evaluated: int = 0
    firing: int = 0
    resolved: int = 0
    failed: int = 0


CHUNK = 200  # tenants whose usage is read in one query


@dataclass(frozen=True)
class TenantUsage:
    """What one tenant's judgement reads: per SKU its hourly series and first hour of usage, and its unit
    costs. Read for a chunk of tenants at once (usage_read); one tenant is a chunk of one."""

    series: dict[int, dict[datetime, Decimal]]
    firsts: dict[int, datetime]
    costs: dict[int, tuple[Decimal, str]]


def anomalies_evaluate(*, now: datetime | None = None, tenant_ids: list[int] | None = None) -> AnomalyRun:
    """Judge the tenants with usage rated in the last two hours (and those with an open anomaly alert, so
    it can resolve), or the given ones, CHUNK tenants per read. One failing tenant is logged and counted;
    the others go on (a failed chunk read fails each of its tenants)."""
    now = now or timezone.now()
    with_open = tenants_with_open_alerts(kinds=[Alert.Kind.ANOMALY])
    if tenant_ids is None:
        ids = sorted(tenants_with_recent_estimates(since=now - 2 * HOUR) | with_open)
    else:
        ids = sorted(tenant_ids)
    run = AnomalyRun()
    params = detect_params()
    skus: dict[int, Sku] = {}
    for i in range(0, len(ids), CHUNK):
        tenants = list(Tenant.objects.filter(pk__in=ids[i : i + CHUNK]).order_by("pk"))
        try:
            usage = usage_read(tenant_ids=[t.pk for t in tenants], now=now, params=params)
            missing = {sku for u in usage.values() for sku in u.series} - set(skus)
            skus.update({s.pk: s for s in Sku.objects.filter(pk__in=missing)})
        except DatabaseError:
            usage = None
            logger.exception("anomaly evaluation: reading the usage of %s tenants failed", len(tenants))
        for tenant in tenants:
            try:
                if usage is None:
                    raise DatabaseError("the usage of its chunk could not be read")
                firing, resolved = tenant_anomalies_evaluate(
                    tenant=tenant,
                    now=now,
                    params=params,
                    usage=usage[tenant.pk],
                    skus=skus,
                    may_resolve=tenant.pk in with_open,
                )
            except (ApplicationError, DatabaseError, ArithmeticError, ValueError, KeyError, TypeError):
                run.failed += 1
                metrics.ALERT_EVALUATION_FAILURES.labels(evaluator="anomaly").inc()
                logger.exception("anomaly evaluation of tenant %s failed", tenant.slug)
                continue
            run.evaluated += 1
            run.firing += firing
            run.resolved += resolved
    return run


def usage_read(*, tenant_ids: list[int], now: datetime, params: DetectParams) -> dict[int, TenantUsage]:
    """The tenants' hourly series of the trailing baseline (plus a day, for the daily windows) through the
    running hour, in one query; the first hour of usage of the SKUs whose series does not already show
    enough history; the unit costs of their running estimates."""
    current = _hour_of(now)
    latest_complete = current - HOUR
    start = latest_complete - timedelta(days=settings.ANOMALY_HISTORY_DAYS)
    series = hourly_usage(tenant_ids=tenant_ids, start=start - DAY, end=current + HOUR)
    # A series with usage at or before both the baseline's start and the history needed has its answer
    # (the first hour is no later): only the others need their first hour read.
    enough = min(start, latest_complete - timedelta(days=params.min_history_days))
    known = {(t, sku): min(hours) for t, by_sku in series.items() for sku, hours in by_sku.items()}
    firsts = first_usage_hours(pairs=sorted(pair for pair, first in known.items() if first > enough))
    estimates = estimates_current(tenant_ids=tenant_ids, now=now)
    found: dict[int, TenantUsage] = {}
    for tenant_id in tenant_ids:
        by_sku = series.get(tenant_id, {})
        found[tenant_id] = TenantUsage(
            series=dict(by_sku),
            firsts={
                sku: firsts.get((tenant_id, sku), known[(tenant_id, sku)])
                if known[(tenant_id, sku)] > enough
                else known[(tenant_id, sku)]
                for sku in by_sku
            },
            costs={
                row.sku_id: (row.amount / row.quantity, row.currency)
                for row in estimates.get(tenant_id, [])
                if row.quantity > 0 and row.amount > 0
            },
        )
    return found


def _hour_of(now: datetime) -> datetime:
    return now.astimezone(ZoneInfo("UTC")).replace(minute=0, second=0, microsecond=0)


def tenant_anomalies_evaluate(
    *,
    tenant: Tenant,
    now: datetime,
    params: DetectParams,
    usage: TenantUsage | None = None,
    skus: dict[int, Sku] | None = None,
    may_resolve: bool = True,
) -> tuple[int, int]:
    """Judge one tenant's SKUs, fire what is anomalous, resolve the rest. Returns (firing, resolved). Reads
    its usage (usage_read) and SKUs unless given. may_resolve=False: the caller read, at the start of the
    run, that the tenant had no open anomaly alert (only this evaluator opens them), so with nothing
    anomalous there is nothing to write or resolve."""
    zone = zone_or_utc(tenant.timezone)
    current = _hour_of(now)
    latest_complete = current - HOUR
    start = latest_complete - timedelta(days=settings.ANOMALY_HISTORY_DAYS)
    if usage is None:
        usage = usage_read(tenant_ids=[tenant.pk], now=now, params=params)[tenant.pk]
    if skus is None:
        skus = {s.pk: s for s in Sku.objects.filter(pk__in=list(usage.series))}
    found: list[tuple[Sku, Window]] = []
    for sku_id, hours in sorted(usage.series.items()):
        first = usage.firsts.get(sku_id)
        if first is None or first > latest_complete - timedelta(days=params.min_history_days):
            continue  # not enough history yet
        history_start = max(start, first)
        for window in _judge(hours, zone=zone, start=history_start, current=current, params=params):
            found.append((skus[sku_id], window))
    if not found and not may_resolve:
        return 0, 0
    keys: list[str] = []
    costs = usage.costs
    with transaction.atomic():
        for sku, window in found:
            if sku.pk not in costs:
                continue  # no money moves: nothing to alert about
            cost, currency = costs[sku.pk]
            increase = (window.verdict.observed - window.verdict.expected) * cost
            if increase < Decimal(settings.ANOMALY_MIN_SPEND_DELTA):
                continue
            key = f"{sku.code}:{window.kind}"
            keys.append(key)
            _fire(
                tenant=tenant,
                sku=sku,
                window=window,
                cost=cost,
                currency=currency,
                key=key,
                now=now,
                zone=zone,
            )
        resolved = alerts_resolve_except(
            kind=Alert.Kind.ANOMALY, tenant_id=tenant.pk, keys_firing=keys, now=now
        )
    return len(keys), resolved


def _judge(
    hours: dict[datetime, Decimal],
    *,
    zone: ZoneInfo,
    start: datetime,
    current: datetime,
    params: DetectParams,
) -> list[Window]:
    """The anomalous windows of one SKU: the worse of the current and the latest complete hour, and the day
    so far."""
    zero = Decimal(0)
    latest_complete = current - HOUR
    grid: list[tuple[datetime, Decimal]] = []
    at = start
    while at < latest_complete:
        grid.append((at.astimezone(zone), hours.get(at, zero)))
        at += HOUR
    windows: list[Window] = []
    judged = [(at.astimezone(zone), hours.get(at, zero)) for at in (latest_complete, current)]
    # Most series cannot fire: hourly_may_fire says so with a fifth of the full fit's logarithms.
    hourly: Baseline | None = (
        fit_hourly(grid, params=params) if hourly_may_fire(grid, judged, params=params) else None
    )
    if hourly is not None:
        verdicts = [
            Window(
                "hourly",
                at,
                at + HOUR,
                hourly.judge_hour(at=at.astimezone(zone), observed=hours.get(at, zero)),
                at - DAY,
            )
            for at in (latest_complete, current)
        ]
        worst = max(verdicts, key=lambda w: w.verdict.score)
        if worst.verdict.anomalous:
            windows.append(worst)
    local_now = current.astimezone(zone)
    day_start = local_now.replace(hour=0).astimezone(ZoneInfo("UTC"))
    span = int((current - day_start) / HOUR) + 1  # hours of today so far, the running hour included

    def day_total(first_hour: datetime) -> Decimal:
        return sum((hours.get(first_hour + i * HOUR, zero) for i in range(span)), zero)

    previous = []
    day = 1
    while day_start - day * DAY >= start:
        first_hour = day_start - day * DAY
        previous.append((first_hour.astimezone(zone).date(), day_total(first_hour)))
        day += 1
    daily = fit_daily(previous, params=params)
    if daily is not None:
        verdict = daily.judge_day(day=local_now.date(), observed=day_total(day_start))
        if verdict.anomalous:
            windows.append(Window("daily", day_start, current + HOUR, verdict, day_start - DAY))
    return windows


def _fire(
    *,
    tenant: Tenant,
    sku: Sku,
    window: Window,
    cost: Decimal,
    currency: str,
    key: str,
    now: datetime,
    zone: ZoneInfo,
) -> None:
    verdict = window.verdict
    length = window.end - window.start
    projects = carriers(
        window_by_project(tenant_id=tenant.pk, sku_id=sku.pk, start=window.start, end=window.end),
        window_by_project(
            tenant_id=tenant.pk,
            sku_id=sku.pk,
            start=window.reference_start,
            end=window.reference_start + length,
        ),
    )
    tags_now = window_by_tag(tenant_id=tenant.pk, sku_id=sku.pk, start=window.start, end=window.end)
    tags_before = window_by_tag(
        tenant_id=tenant.pk, sku_id=sku.pk, start=window.reference_start, end=window.reference_start + length
    )
    tag_rows = sorted(
        (
            (name, value, qty, increase)
            for name, values in tags_now.items()
            for value, qty, increase in carriers(values, tags_before.get(name, {}))
        ),
        key=lambda row: (-row[3], row[0], row[1]),
    )[:5]

    def money(quantity: Decimal) -> Decimal:
        return quantize_money(quantity * cost, currency)

    observed, expected = money(verdict.observed), money(verdict.expected)
    times = verdict.observed / verdict.expected if verdict.expected > 0 else Decimal(0)
    what = "in the hour from" if window.kind == "hourly" else "today since"
    where = ", ".join(
        [f"project {p or '(none)'}" for p, _q, _i in projects[:2]]
        + [f"{n}={v}" for n, v, _q, _i in tag_rows[:2]]
    )
    fmt = tenant.locale
    message = (
        f"{sku.code}: spend {what} {window.start.astimezone(zone):%Y-%m-%d %H:00} is "
        f"{format_money(observed, currency, fmt)}, "
        + (
            f"{times:.1f}x the usual {format_money(expected, currency, fmt)}"
            if expected > 0
            else "up from almost nothing"
        )
        + (f"; carried by {where}" if where else "")
        + "."
    )
    details: dict[str, object] = {
        "sku": sku.code,
        "window": window.kind,
        "start": window.start.isoformat(),
        "end": window.end.isoformat(),
        "currency": currency,
        "observed_quantity": _plain(verdict.observed),
        "expected_quantity": _plain(verdict.expected.quantize(Decimal("0.000001"))),
        "observed_spend": str(observed),
        "expected_spend": str(expected),
        "increase_spend": str(observed - expected),
        "ratio": str(verdict.ratio.quantize(Decimal("0.01"))),
        "score": str(verdict.score.quantize(Decimal("0.01"))),
        "projects": [{"project": p, "quantity": _plain(q), "increase": _plain(i)} for p, q, i in projects],
        "tags": [
            {"tag": n, "value": v, "quantity": _plain(q), "increase": _plain(i)} for n, v, q, i in tag_rows
        ],
        "method": METHOD,
        "thresholds": {
            "z": settings.ANOMALY_Z_THRESHOLD,
            "ratio": settings.ANOMALY_MIN_RATIO,
            "min_spend_delta": settings.ANOMALY_MIN_SPEND_DELTA,
        },
    }
    severity = Alert.Severity.CRITICAL if verdict.ratio >= 5 else Alert.Severity.WARNING
    alert_fire(
        kind=Alert.Kind.ANOMALY,
        tenant_id=tenant.pk,
        key=key,
        message=message,
        severity=severity,
        details=details,
        now=now,
    )


def _plain(quantity: Decimal) -> str:
    """A quantity without trailing zeros and never in exponent notation ("1000", "12.5")."""
    return format(quantity.normalize(), "f")
