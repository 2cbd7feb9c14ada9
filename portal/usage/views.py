"""Portal pages: usage. The current period (usage per SKU, the running estimate and when it was last
updated, the prepaid credit balance with expiries, what changes next when a new price-list version is
scheduled) and the history (cost per day and usage per meter per day over up to 13 months, as server-side
SVG charts with data tables). Thin: reads through selectors that take the current tenant; figures are laid
out with Babel in the tenant's locale, dates in its time zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache, lru_cache, partial
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date as babel_date
from babel.dates import format_datetime as babel_datetime
from django.core.cache import cache as django_cache
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET

from billing.close.preview import next_change_preview_cached
from billing.rating.current import current_usage
from billing.rating.history import HistoryPlan, UsageHistory, history_plan, usage_history
from common.breaker import redis_breaker
from common.money_format import DocumentFormat, format_date, format_money, format_quantity, resolve_locale
from ledger.credit_balance import tenant_credit_balance
from portal.access import PortalRequest, tenant_view
from portal.usage.charts import bar_chart, chart_html
from portal.usage.forms import MAX_MONTHS, history_period


def _local_day(value: datetime | None, zone: ZoneInfo) -> date | None:
    return value.astimezone(zone).date() if value is not None else None


@tenant_view
@require_GET
def usage(request: PortalRequest) -> HttpResponse:
    tenant = request.tenant
    now = timezone.now()
    zone = ZoneInfo(tenant.timezone)
    current = current_usage(tenant=tenant, now=now)
    fmt = DocumentFormat(current.currency, tenant.locale)
    credits = tenant_credit_balance(tenant=tenant, now=now)
    change = next_change_preview_cached(tenant=tenant, now=now)
    updated = (
        babel_datetime(current.updated_at, "medium", tzinfo=zone, locale=resolve_locale(tenant.locale))
        if current.updated_at
        else ""
    )
    context: dict[str, Any] = {
        "section": "usage",
        "current": current,
        "fmt": fmt,
        "updated": updated,
        "grants": [
            (g, DocumentFormat(g.currency, tenant.locale), _local_day(g.expires_at, zone))
            for g in credits.grants
        ],
        "credit_totals": [
            (c, amount, DocumentFormat(c, tenant.locale)) for c, amount in sorted(credits.totals.items())
        ],
        "change": change,
        "change_fmt": DocumentFormat(change.currency or current.currency, tenant.locale) if change else fmt,
        "change_on": _local_day(change.effective_from, zone) if change else None,
        "timezone": tenant.timezone,
    }
    return render(request, "portal/usage/current.html", context)


@dataclass(frozen=True)
class _Charts:
    """The rendered part of a history page: the charts (HTML) and the notes about pricing."""

    cost: str
    meters: list[str]
    approximate: list[str]
    left_out: list[str]


_CHARTS_SECONDS = 24 * 3600
_CHARTS_VERSION = "v1"  # bump when the charts' markup changes


def _history_charts(plan: HistoryPlan, locale: str) -> _Charts:
    """The charts of a history plan, kept in the cache under the plan's fingerprint and the locale: the
    fingerprint changes whenever a period's usage does (billing.rating.history_cache), so a kept page is
    never stale, and drawing 13 months of charts (Babel labels for every bar) happens once per change."""
    key = f"portal:history-charts:{_CHARTS_VERSION}:{plan.fingerprint}:{locale}"
    kept = redis_breaker.fail_open(lambda: django_cache.get(key), default=None, what="history charts")
    if isinstance(kept, _Charts):
        return kept
    history = usage_history(tenant=plan.tenant, first_day=plan.first_day, last_day=plan.last_day, plan=plan)
    charts = _draw(history, locale)
    redis_breaker.fail_open(
        lambda: django_cache.set(key, charts, timeout=_CHARTS_SECONDS), default=None, what="history charts"
    )
    return charts


def _draw(history: UsageHistory, locale: str) -> _Charts:
    # Labels are memoized for the page: every chart labels the same days, and Babel's formatting is the
    # largest cost of drawing after the history itself.
    day_label = lru_cache(maxsize=None)(partial(format_date, locale=locale))

    @cache
    def month_label(day: date) -> str:
        return str(babel_date(day, "MMM y", locale=resolve_locale(locale)))

    @cache
    def money(value: Decimal) -> str:
        return format_money(value, history.currency, locale)

    @cache
    def quantity(value: Decimal) -> str:
        return format_quantity(value, locale)

    cost_chart = bar_chart(
        chart_id="chart-cost",
        title=f"Usage cost per day ({history.currency})",
        value_heading=f"Cost ({history.currency})",
        points=history.cost,
        value_label=money,
        day_label=day_label,
        month_label=month_label,
    )
    meter_charts = [
        bar_chart(
            chart_id=f"chart-meter-{i}",
            title=f"{meter.name} per day ({meter.unit})",
            value_heading=f"Usage ({meter.unit})",
            points=meter.days,
            value_label=quantity,
            day_label=day_label,
            month_label=month_label,
        )
        for i, meter in enumerate(history.meters, start=1)
    ]
    return _Charts(
        cost=str(chart_html(cost_chart)),
        meters=[str(chart_html(chart)) for chart in meter_charts],
        approximate=list(history.approximate),
        left_out=list(history.left_out),
    )


@tenant_view
@require_GET
def usage_history_page(request: PortalRequest) -> HttpResponse:
    tenant = request.tenant
    zone = ZoneInfo(tenant.timezone)
    today = timezone.now().astimezone(zone).date()
    period = history_period(request.GET, today=today)
    plan = history_plan(tenant=tenant, first_day=period.first_day, last_day=period.last_day)
    charts = _history_charts(plan, tenant.locale)
    context: dict[str, Any] = {
        "section": "usage",
        "period": period,
        "approximate": charts.approximate,
        "left_out": charts.left_out,
        "cost_chart": mark_safe(charts.cost),  # noqa: S308 - drawn by chart_html, which escapes every label
        "meter_charts": [mark_safe(chart) for chart in charts.meters],  # noqa: S308 - as above
        "first_label": format_date(period.first_day, locale=tenant.locale),
        "last_label": format_date(period.last_day, locale=tenant.locale),
        "max_months": MAX_MONTHS,
        "this_month": f"{today:%Y-%m}",
        "timezone": tenant.timezone,
    }
    return render(request, "portal/usage/history.html", context)
