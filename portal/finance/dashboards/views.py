"""Finance's dashboards: executive (spend, forecast, top tenants, outstanding invoices, dispute rate),
on-call (pipeline lag, quarantine rate, ingest errors, open alerts, recent price-list changes and rollouts)
and debug (per-SKU ingest rates, rating latency, version-lookup latency). Thin: the figures come from
billing.observability's selectors; money in the ledger's base currency through Babel, instants in UTC
(finance is platform-wide). The figures are computed ahead by a beat task and kept
(billing.observability.dashboards_kept); the page says when they were computed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import partial
from typing import Any, TypeVar

from babel.dates import format_datetime
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from billing.observability.dashboards_debug import Debug
from billing.observability.dashboards_executive import Executive
from billing.observability.dashboards_kept import dashboard_figures, refresh_seconds
from billing.observability.dashboards_oncall import OnCall
from common.money_format import format_money, format_percent, format_quantity, resolve_locale
from portal.finance.access import FinanceRequest, finance_view
from portal.finance.dashboards.charts import category_chart, figure
from portal.finance.queue.disputes import duration, when_utc

SECTION = "finance-dashboards"
T = TypeVar("T")
_VERSION = "v1"  # bump when a dashboard's dataclasses change


def _money(currency: str, value: Decimal) -> str:
    return format_money(value, currency, None)


HUNDREDTH = Decimal("0.01")  # a mean per hour, shown to two places


def _number(value: Decimal) -> str:
    return format_quantity(value, None)


def _percent(value: Decimal | None) -> str:
    return "n/a" if value is None else format_percent(value, None)


def _month(day: Any) -> str:
    return str(
        format_datetime(
            datetime(day.year, day.month, 1, tzinfo=UTC), "MMM y", tzinfo=UTC, locale=resolve_locale(None)
        )
    )


def _hour(at: datetime) -> str:
    return str(format_datetime(at, "HH:mm", tzinfo=UTC, locale=resolve_locale(None)))


def _seconds(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.1f} s"


@finance_view
@require_GET
def index(request: FinanceRequest) -> HttpResponse:
    return render(request, "portal/finance/dashboards/index.html", {"section": SECTION})


@finance_view
@require_GET
def executive(request: FinanceRequest) -> HttpResponse:
    data: Executive = dashboard_figures(name="executive")
    money = partial(_money, data.currency)
    points = [(_month(m.month), m.spend) for m in data.months]
    points.append((f"{_month(data.now.date())} (to date)", data.current.to_date))
    chart = category_chart(
        chart_id="chart-spend",
        title=f"Spend per month ({data.currency})",
        value_heading=f"Spend ({data.currency})",
        row_heading="Month",
        row_noun="months",
        points=points,
        value_label=money,
        label_every=2,
        summary=(
            f"Spend of the last {len(data.months)} closed months and of this month to date; this month to "
            f"date {money(data.current.to_date)}."
        ),
    )
    aging = category_chart(
        chart_id="chart-outstanding",
        title=f"Outstanding invoices by days overdue ({data.currency})",
        value_heading=f"Amount due ({data.currency})",
        row_heading="Age",
        row_noun="age groups",
        points=[(b.label, b.amount) for b in data.outstanding],
        value_label=money,
    )
    variance = data.variance
    context = {
        "section": SECTION,
        "d": data,
        "as_of": when_utc(data.now),
        "refresh_seconds": refresh_seconds(),
        "spend_chart": figure(chart),
        "aging_chart": figure(aging),
        "to_date": money(data.current.to_date),
        "projected": money(data.current.projected) if data.current.projected is not None else "",
        "forecast": money(data.forecast) if data.forecast is not None else "",
        "variance": money(variance.amount) if variance else "",
        "variance_pct": _percent(variance.percent) if variance else "",
        "top": [(t, money(t.amount)) for t in data.top],
        "outstanding_total": money(data.outstanding_total),
        "aging": [(b, money(b.amount)) for b in data.outstanding],
        "months": [(_month(m.month), money(m.spend), m, _percent(m.dispute_rate)) for m in data.months],
        "dispute_rate": _percent(data.dispute_rate),
    }
    return render(request, "portal/finance/dashboards/executive.html", context)


@finance_view
@require_GET
def oncall(request: FinanceRequest) -> HttpResponse:
    data: OnCall = dashboard_figures(name="oncall")
    chart = category_chart(
        chart_id="chart-quarantine",
        title="Quarantine rate per hour, last 24 h (UTC)",
        value_heading="Quarantined (% of stored)",
        row_heading="Hour (UTC)",
        row_noun="hours",
        points=[(_hour(h.hour), h.rate or Decimal(0)) for h in data.hours],
        value_label=lambda v: format_percent(v, None),
        label_every=3,
        summary=f"Events quarantined per hour as a share of events stored; overall {_percent(data.quarantine_rate)}.",
    )
    context = {
        "section": SECTION,
        "d": data,
        "as_of": when_utc(data.now),
        "refresh_seconds": refresh_seconds(),
        "lag": duration_seconds(data.lag_seconds),
        "backlog": _number(Decimal(data.backlog_events)),
        "stored": _number(Decimal(data.stored)),
        "quarantined": _number(Decimal(data.quarantined)),
        "quarantine_rate": _percent(data.quarantine_rate),
        "quarantine_chart": figure(chart),
        "hours": [
            (_hour(h.hour), _number(Decimal(h.stored)), _number(Decimal(h.quarantined)), _percent(h.rate))
            for h in data.hours
        ],
        "errors": [(e, _number(Decimal(e.events))) for e in data.errors],
        "alerts": [(a, when_utc(a.created_at)) for a in data.alerts],
        "severities": sorted(data.alerts_by_severity.items()),
        "versions": [(v, when_utc(getattr(v, "changed_at", None))) for v in data.versions],
        "rollouts": [(r, when_utc(r.created_at)) for r in data.rollouts],
    }
    return render(request, "portal/finance/dashboards/oncall.html", context)


def duration_seconds(seconds: int | None) -> str:
    """The pipeline lag as on-call reads it: `42 s`, `5 min`, `2 h 3 min`; none when nothing waits."""
    if seconds is None:
        return "nothing waits for rating"
    return f"{seconds} s" if seconds < 60 else duration(timedelta(seconds=seconds))


@finance_view
@require_GET
def debug(request: FinanceRequest) -> HttpResponse:
    data: Debug = dashboard_figures(name="debug")
    latency = data.latency
    chart = category_chart(
        chart_id="chart-latency",
        title="Rating latency, batches received in the last 24 h",
        value_heading="Batches",
        row_heading="Receipt to rated",
        row_noun="latency ranges",
        points=[(b.label, Decimal(b.batches)) for b in latency.buckets],
        value_label=_number,
        summary=f"{latency.rated} batches rated; p95 {_seconds(latency.p95)}.",
    )
    sku_charts = [
        figure(
            category_chart(
                chart_id=f"chart-sku-{i}",
                title=f"{s.code}: events per hour, last 24 h (UTC)",
                value_heading="Events",
                row_heading="Hour (UTC)",
                row_noun="hours",
                points=[(_hour(h), Decimal(n)) for h, n in zip(data.hours, s.hours, strict=True)],
                value_label=_number,
                label_every=3,
                summary=f"{s.code}: {_number(Decimal(s.total))} events in the last 24 h.",
            )
        )
        for i, s in enumerate(data.skus[:6], start=1)
    ]
    lookup = data.lookup
    context = {
        "section": SECTION,
        "d": data,
        "as_of": when_utc(data.now),
        "refresh_seconds": refresh_seconds(),
        "skus": [
            (
                s,
                _number(Decimal(s.total)),
                _number((Decimal(s.total) / 24).quantize(HUNDREDTH, ROUND_HALF_UP)),
            )
            for s in data.skus
        ],
        "sku_charts": sku_charts,
        "latency_chart": figure(chart),
        "latency": latency,
        "p50": _seconds(latency.p50),
        "p95": _seconds(latency.p95),
        "p99": _seconds(latency.p99),
        "within_slo": _percent(latency.within_slo_percent),
        "lookup": lookup,
        "lookup_figures": (
            {
                "mean": _seconds(lookup.mean),
                "p50": _seconds(lookup.p50),
                "p95": _seconds(lookup.p95),
                "p99": _seconds(lookup.p99),
            }
            if lookup
            else None
        ),
    }
    return render(request, "portal/finance/dashboards/debug.html", context)
