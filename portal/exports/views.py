"""The customer's FOCUS download (portal/exports/): the current tenant's FOCUS 1.2 cost and usage rows
of a month, as CSV or Parquet (docs/focus.md). Only the current tenant's rows, whatever is asked."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from ledger.exports.focus_rows import focus_periods
from portal.access import PortalRequest, tenant_view
from portal.exports.download import focus_download
from portal.exports.forms import FocusExportForm

TEMPLATE = "portal/exports/index.html"


def _page(request: PortalRequest, form: FocusExportForm, status: int = 200) -> HttpResponse:
    context = {"section": "exports", "form": form, "periods": focus_periods(tenant=request.tenant)}
    return render(request, TEMPLATE, context, status=status)


@tenant_view
@require_GET
def exports(request: PortalRequest) -> HttpResponse:
    periods = focus_periods(tenant=request.tenant)
    return _page(request, FocusExportForm(initial={"period": periods[0] if periods else "", "format": "csv"}))


@tenant_view
@require_GET
def exports_download(request: PortalRequest) -> HttpResponse:
    if not request.GET:  # nothing asked yet: the page
        return exports(request)
    form = FocusExportForm(request.GET)
    if not form.is_valid():
        return _page(request, form, status=400)
    return focus_download(
        period=form.cleaned_data["period"], fmt=form.cleaned_data["format"], tenant=request.tenant
    )
