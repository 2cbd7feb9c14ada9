"""Finance's FOCUS download (portal/finance/exports/): a month's FOCUS 1.2 rows of every tenant or of one,
as CSV or Parquet (docs/focus.md)."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from ledger.exports.focus_rows import focus_periods
from portal.exports.download import focus_download
from portal.exports.forms import FinanceFocusExportForm
from portal.finance.access import FinanceRequest, finance_view
from tenants.models import Tenant
from tenants.selectors import tenant_get

TEMPLATE = "portal/finance/exports/index.html"


def _tenants() -> list[tuple[str, str]]:
    return [
        (slug, f"{name} ({slug})")
        for slug, name in Tenant.objects.order_by("name").values_list("slug", "name")
    ]


def _page(request: FinanceRequest, form: FinanceFocusExportForm, status: int = 200) -> HttpResponse:
    context = {"section": "finance-exports", "form": form, "periods": focus_periods(tenant=None)}
    return render(request, TEMPLATE, context, status=status)


@finance_view
@require_GET
def exports(request: FinanceRequest) -> HttpResponse:
    periods = focus_periods(tenant=None)
    initial = {"period": periods[0] if periods else "", "format": "csv", "tenant": ""}
    return _page(request, FinanceFocusExportForm(initial=initial, tenants=_tenants()))


@finance_view
@require_GET
def exports_download(request: FinanceRequest) -> HttpResponse:
    if not request.GET:  # nothing asked yet: the page
        return exports(request)
    form = FinanceFocusExportForm(request.GET, tenants=_tenants())
    if not form.is_valid():
        return _page(request, form, status=400)
    slug = form.cleaned_data["tenant"]
    tenant = tenant_get(slug=slug) if slug else None
    return focus_download(period=form.cleaned_data["period"], fmt=form.cleaned_data["format"], tenant=tenant)
