"""Finance's reconciliation pages: the runs (newest first) with a form to run a period now, a run with its
deltas per check (breached first, filterable), and one delta with the rows behind it
(billing.reconciliation, ledger.reconciliation.selectors). Running is for editors and approvers."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from billing.profiles.roles import EDITORS
from billing.reconciliation.services import previous_month_key, reconcile_period
from common.errors import ApplicationError
from common.money_format import format_money
from ledger.models import ReconciliationDelta, ReconciliationRun
from ledger.models.reconciliation import Check
from ledger.reconciliation.selectors import delta_rows, run_deltas, runs_list
from portal.finance.access import FinanceRequest, finance_view

SECTION = "finance-reconciliation"
PER_PAGE = 50


def _money(amount: Decimal | None, currency: str) -> str:
    return "" if amount is None else format_money(amount, currency, "en")


def _runs(page: Any) -> list[tuple[ReconciliationRun, list[dict[str, Any]]]]:
    """Each run of the page with its summary per check, in Check order."""
    return [
        (run, [run.summary.get(c, {}) if isinstance(run.summary, dict) else {} for c in Check.values])
        for run in page.object_list
    ]


def _can_run(request: FinanceRequest) -> bool:
    return bool(request.finance_roles & {r.value for r in EDITORS})


@finance_view
@require_GET
def run_list(request: FinanceRequest) -> HttpResponse:
    page = Paginator(runs_list(), PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "section": SECTION,
        "page": page,
        "runs": _runs(page),
        "checks": Check.choices,
        "can_run": _can_run(request),
        "default_period": previous_month_key(),
        "error": "",
    }
    return render(request, "portal/finance/reconciliation/list.html", context)


@finance_view
@require_POST
def run_start(request: FinanceRequest) -> HttpResponse:
    if not _can_run(request):
        raise PermissionDenied("running a reconciliation needs an editor or approver role")
    period = str(request.POST.get("period", "")).strip()
    note = str(request.POST.get("note", "")).strip()[:2000]
    try:
        run = reconcile_period(period_key=period, trigger="portal", actor=request.user, note=note)  # type: ignore[arg-type]
    except ApplicationError as err:
        page = Paginator(runs_list(), PER_PAGE).get_page(1)
        context = {
            "section": SECTION,
            "page": page,
            "runs": _runs(page),
            "checks": Check.choices,
            "can_run": True,
            "default_period": period,
            "error": err.message,
        }
        return render(request, "portal/finance/reconciliation/list.html", context, status=400)
    return redirect("portal:finance:reconciliation-run", run_id=run.pk)


@finance_view
@require_GET
def run_detail(request: FinanceRequest, run_id: int) -> HttpResponse:
    run = get_object_or_404(ReconciliationRun.objects.select_related("provider_import"), pk=run_id)
    check = request.GET.get("check") or None
    if check not in (None, *Check.values):
        check = None
    breached_only = request.GET.get("breached") == "1"
    page = Paginator(run_deltas(run=run, check=check, breached_only=breached_only), PER_PAGE).get_page(
        request.GET.get("page")
    )
    rows = [
        {
            "delta": d,
            "expected": _money(d.expected, d.currency),
            "actual": _money(d.actual, d.currency),
            "difference": _money(d.delta, d.currency),
            "base": _money(d.delta_base, run.base_currency),
        }
        for d in page.object_list
    ]
    summary = [
        (value, label, run.summary.get(value, {}) if isinstance(run.summary, dict) else {})
        for value, label in Check.choices
    ]
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "section": SECTION,
        "run": run,
        "summary": summary,
        "rows": rows,
        "page": page,
        "check": check or "",
        "breached_only": breached_only,
        "checks": Check.choices,
        "query": query.urlencode(),
    }
    return render(request, "portal/finance/reconciliation/run.html", context)


@finance_view
@require_GET
def delta_detail(request: FinanceRequest, run_id: int, delta_id: int) -> HttpResponse:
    delta = get_object_or_404(
        ReconciliationDelta.objects.select_related("run", "tenant"), pk=delta_id, run_id=run_id
    )
    context = {
        "section": SECTION,
        "delta": delta,
        "run": delta.run,
        "rows": delta_rows(delta=delta),
        "expected": _money(delta.expected, delta.currency),
        "actual": _money(delta.actual, delta.currency),
        "difference": _money(delta.delta, delta.currency),
    }
    return render(request, "portal/finance/reconciliation/delta.html", context)
