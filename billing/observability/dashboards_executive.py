"""The executive dashboard's figures, platform-wide, in the ledger's base currency
(settings.LEDGER_BASE_CURRENCY). Finance-only reads: no tenant scoping (every tenant's money is shown in
aggregate; the top tenants by name). Each figure is one aggregate query; definitions in docs/dashboards.md.

- Spend of a closed month: issued, non-void invoices (finalized or paid) whose period's last local day lies
  in that calendar month, their subtotal (pre-tax, after discounts, minimums and corrections) converted at
  the invoice's own FX rate, each invoice rounded once (half up) to the base currency.
- Spend this period: the running estimates (pre-tax, unrounded) of every open period (period_start <= now <
  period_end), converted at today's signed rate (billing.close.compute.fx_for, the close's road), rounded
  once; projected to period end per period range (forecast.projected_to_period_end; a range less than a
  day old counts at its amount to date; no projection when every range is that young).
- Forecast: the mean of the last three closed months; variance: projection - forecast.
- Top 10 tenants: by this period's estimate in the base currency.
- Outstanding: finalized, unpaid invoices with an amount due, by days past their due date.
- Dispute rate: invoices with at least one dispute / invoices issued (void included), per closed month."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, localcontext
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Round, TruncMonth

from billing.close.cache import CloseCache
from billing.close.compute import fx_for
from billing.observability.forecast import (
    Variance,
    projected_to_period_end,
    rate_percent,
    trailing_forecast,
    variance,
)
from billing.rating.models import TenantUsageEstimate
from common.money import WIDE_CONTEXT, currency_exponent, quantize_money
from ledger.models import Dispute, Invoice
from tenants.models import Tenant

MONTHS = 12
TOP = 10
SPENT = (Invoice.Status.FINALIZED, Invoice.Status.PAID)
ISSUED = (Invoice.Status.FINALIZED, Invoice.Status.PAID, Invoice.Status.VOID)
AGING = ((None, "Not yet due"), (30, "1-30 days overdue"), (60, "31-60 days"), (90, "61-90 days"))
AGING_LAST = "Over 90 days"


@dataclass(frozen=True)
class MonthSpend:
    month: date  # first day of the calendar month
    spend: Decimal
    invoices: int  # issued, void included (the dispute rate's denominator)
    disputed: int

    @property
    def dispute_rate(self) -> Decimal | None:
        return rate_percent(self.disputed, self.invoices)


@dataclass(frozen=True)
class CurrentSpend:
    to_date: Decimal
    projected: Decimal | None
    tenants: int
    unconverted: tuple[str, ...]  # currencies without a usable rate today (left out, named)


@dataclass(frozen=True)
class TopTenant:
    tenant_id: int
    slug: str
    name: str
    amount: Decimal


@dataclass(frozen=True)
class AgingBucket:
    label: str
    invoices: int
    amount: Decimal


@dataclass(frozen=True)
class Executive:
    currency: str
    now: datetime
    months: list[MonthSpend]  # oldest first, MONTHS of them
    current: CurrentSpend
    forecast: Decimal | None
    variance: Variance | None
    top: list[TopTenant]
    outstanding: list[AgingBucket]
    outstanding_unconverted: int  # finalized unpaid invoices without an FX rate (left out, counted)

    @property
    def outstanding_total(self) -> Decimal:
        return sum((b.amount for b in self.outstanding), Decimal(0))

    @property
    def outstanding_count(self) -> int:
        return sum(b.invoices for b in self.outstanding)

    @property
    def dispute_rate(self) -> Decimal | None:
        return rate_percent(sum(m.disputed for m in self.months), sum(m.invoices for m in self.months))


def _month_start(day: date, back: int = 0) -> date:
    index = day.year * 12 + day.month - 1 - back
    return date(index // 12, index % 12 + 1, 1)


def closed_months(*, now: datetime, currency: str) -> list[MonthSpend]:
    this_month = _month_start(now.date())
    first = _month_start(this_month, MONTHS)
    exponent = currency_exponent(currency)
    rows = (
        Invoice.objects.filter(
            status__in=ISSUED,
            period_end__gte=datetime(first.year, first.month, first.day, tzinfo=now.tzinfo)
            - timedelta(days=1),
            period_last_day__gte=first,
            period_last_day__lt=this_month,
        )
        .annotate(month=TruncMonth("period_last_day"))
        .values("month")
        .annotate(
            invoices=Count("id"),
            spend=Sum(
                Round(F("subtotal") * F("fx_rate"), exponent),
                filter=Q(status__in=SPENT, fx_rate__isnull=False),
            ),
        )
    )
    found = {r["month"]: r for r in rows}
    # Disputes are few: their invoices' months are read from the disputes' side (a semi-join per invoice
    # of the window would probe the dispute index 120,000 times at 10,000 tenants).
    disputed = dict(
        Invoice.objects.filter(
            pk__in=Dispute.objects.values("invoice_id"),
            status__in=ISSUED,
            period_last_day__gte=first,
            period_last_day__lt=this_month,
        )
        .annotate(month=TruncMonth("period_last_day"))
        .values_list("month")
        .annotate(n=Count("id"))
        .order_by()
    )
    months = []
    for back in range(MONTHS, 0, -1):
        month = _month_start(this_month, back)
        row = found.get(month, {})
        months.append(
            MonthSpend(
                month=month,
                spend=quantize_money(row.get("spend") or Decimal(0), currency),
                invoices=row.get("invoices", 0),
                disputed=int(disputed.get(month, 0)),
            )
        )
    return months


def fx_rates_today(*, currencies: set[str], on: date) -> dict[str, Decimal]:
    """1 unit of each currency in the base currency, by the close's rule (signed, verified, looked back a
    week); a currency without a usable rate is absent."""
    cache = CloseCache()
    rates = {}
    for code in sorted(currencies):
        fx, _reason = fx_for(currency=code, on=on, cache=cache)
        if fx is not None:
            rates[code] = fx.rate
    return rates


def current_spend(*, now: datetime, currency: str) -> tuple[CurrentSpend, dict[str, Decimal]]:
    rows = (
        TenantUsageEstimate.objects.filter(period_start__lte=now, period_end__gt=now)
        .values_list("currency", "period_start", "period_end")
        .annotate(amount=Sum("amount"), tenants=Count("tenant_id", distinct=True))
        .order_by()
    )
    groups = list(rows)
    rates = fx_rates_today(currencies={g[0] for g in groups}, on=now.date())
    to_date = projected = Decimal(0)
    tenants = 0
    any_projected = False
    with localcontext(WIDE_CONTEXT):
        for code, start, end, amount, n in groups:
            if code not in rates:
                continue
            base = amount * rates[code]
            to_date += base
            tenants += n
            ahead = projected_to_period_end(amount=base, start=start, end=end, now=now)
            # A period less than a day old (a time zone already in the next month) counts as it stands.
            projected += base if ahead is None else ahead
            any_projected = any_projected or ahead is not None
    unconverted = tuple(sorted({g[0] for g in groups} - rates.keys()))
    return (
        CurrentSpend(
            to_date=quantize_money(to_date, currency),
            projected=quantize_money(projected, currency) if any_projected else None,
            tenants=tenants,
            unconverted=unconverted,
        ),
        rates,
    )


def top_tenants(*, now: datetime, rates: dict[str, Decimal], currency: str) -> list[TopTenant]:
    if not rates:
        return []
    values = ", ".join(["(%s, %s::numeric)"] * len(rates))
    params: list[Any] = [x for code, rate in sorted(rates.items()) for x in (code, rate)]
    table = TenantUsageEstimate._meta.db_table
    sql = (
        f"SELECT e.tenant_id, SUM(e.amount * r.rate) AS base FROM {table} e "  # noqa: S608 - table name from the model
        f"JOIN (VALUES {values}) AS r(currency, rate) ON r.currency = e.currency "
        "WHERE e.period_start <= %s AND e.period_end > %s "
        "GROUP BY e.tenant_id ORDER BY base DESC, e.tenant_id LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, now, now, TOP])
        ranked = cursor.fetchall()
    names = {t.pk: t for t in Tenant.objects.filter(pk__in=[r[0] for r in ranked]).only("slug", "name")}
    return [
        TopTenant(tenant_id, names[tenant_id].slug, names[tenant_id].name, quantize_money(amount, currency))
        for tenant_id, amount in ranked
    ]


def outstanding(*, today: date, currency: str) -> tuple[list[AgingBucket], int]:
    """Finalized (unpaid) invoices with an amount due, by days overdue (no due date: not yet due)."""
    exponent = currency_exponent(currency)
    unpaid = Invoice.objects.filter(status=Invoice.Status.FINALIZED, amount_due__gt=0)
    due = Round(F("amount_due") * F("fx_rate"), exponent)
    aggregates: dict[str, object] = {"missing": Count("id", filter=Q(fx_rate__isnull=True))}
    lower: date | None = None
    conditions = []
    for days, _label in AGING:
        bound = today if days is None else today - timedelta(days=days)
        q = Q(due_date__isnull=True) | Q(due_date__gte=bound) if days is None else Q(due_date__gte=bound)
        if lower is not None:
            q &= Q(due_date__lt=lower)
        conditions.append(q)
        lower = bound
    conditions.append(Q(due_date__lt=lower))
    for i, q in enumerate(conditions):
        aggregates[f"n{i}"] = Count("id", filter=q & Q(fx_rate__isnull=False))
        aggregates[f"a{i}"] = Sum(due, filter=q & Q(fx_rate__isnull=False))
    row = unpaid.aggregate(**aggregates)
    labels = [label for _days, label in AGING] + [AGING_LAST]
    buckets = [
        AgingBucket(label, int(row[f"n{i}"]), quantize_money(row[f"a{i}"] or Decimal(0), currency))
        for i, label in enumerate(labels)
    ]
    return buckets, int(row["missing"])


def executive_dashboard(*, now: datetime) -> Executive:
    currency = settings.LEDGER_BASE_CURRENCY
    months = closed_months(now=now, currency=currency)
    current, rates = current_spend(now=now, currency=currency)
    forecast = trailing_forecast([m.spend for m in months])
    buckets, missing = outstanding(today=now.date(), currency=currency)
    return Executive(
        currency=currency,
        now=now,
        months=months,
        current=current,
        forecast=quantize_money(forecast, currency) if forecast is not None else None,
        variance=variance(projected=current.projected, forecast=forecast),
        top=top_tenants(now=now, rates=rates, currency=currency),
        outstanding=buckets,
        outstanding_unconverted=missing,
    )
