"""The finance workspace's landing page: what waits for finance, with links to each area."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render

from portal.finance.access import FinanceRequest, finance_view


@finance_view
def home(request: FinanceRequest) -> HttpResponse:
    return render(request, "portal/finance/home.html", {"section": "finance-home"})
