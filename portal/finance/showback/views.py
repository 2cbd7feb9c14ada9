"""Finance's showback: pick a tenant and a period; the tenant's allocation rules (every version and its
approval state) and the showback report (per team and per target, the unallocated part its own line),
and the same report as CSV (billing.allocation.selectors.showback)."""

from __future__ import annotations

import csv
import io

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from billing.allocation.selectors import ShowbackReport, rules_of, showback, showback_period
from billing.reconciliation.services import previous_month_key
from common.errors import ValidationFailed
from common.money_format import format_money
from common.periods import parse_period_key
from portal.finance.access import FinanceRequest, finance_view
from tenants.models import Tenant

SECTION = "finance-showback"


def _query(request: FinanceRequest) -> tuple[Tenant | None, str, str]:
    """(tenant, period, error) of the query string; an unknown tenant or a bad period is an error."""
    slug = str(request.GET.get("tenant", "")).strip()
    period = str(request.GET.get("period", "")).strip() or previous_month_key()
    try:
        parse_period_key(period)
        tenant = Tenant.objects.filter(slug=slug).first() if slug else None
        if tenant is not None:
            showback_period(tenant=tenant, period_key=period)
    except ValidationFailed as err:
        return None, period, err.message
    if slug and tenant is None:
        return None, period, f"no tenant {slug!r}"
    return tenant, period, ""


@finance_view
@require_GET
def showback_page(request: FinanceRequest) -> HttpResponse:
    tenant, period, error = _query(request)
    report: ShowbackReport | None = None
    rules = []
    if tenant is not None:
        report = showback(tenant=tenant, period_key=period)
        rules = list(rules_of(tenant=tenant))
    context = {
        "section": SECTION,
        "tenants": Tenant.objects.order_by("slug").values_list("slug", "name"),
        "tenant": tenant,
        "period": period,
        "error": error,
        "report": report,
        "rows": [(r, format_money(r.amount, r.currency, "en")) for r in report.rows] if report else [],
        "teams": [(t, format_money(a, c, "en")) for t, c, a in report.teams()] if report else [],
        "rules": [(rule, list(rule.versions.all())) for rule in rules],
    }
    return render(request, "portal/finance/showback/page.html", context, status=400 if error else 200)


@finance_view
@require_GET
def showback_csv(request: FinanceRequest) -> HttpResponse:
    tenant, period, error = _query(request)
    if tenant is None:
        return HttpResponse(
            error or "a tenant is required", status=400, content_type="text/plain; charset=utf-8"
        )
    report = showback(tenant=tenant, period_key=period)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["period", "tenant", "team", "target", "rule", "version", "method", "source", "amount", "currency"]
    )
    for r in report.rows:
        writer.writerow(
            [
                period,
                tenant.slug,
                r.team,
                r.target,
                r.rule,
                r.version,
                r.method,
                r.source,
                f"{r.amount:f}",
                r.currency,
            ]
        )
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="showback-{tenant.slug}-{period}.csv"'
    return response
