"""Finance's approval requests: the open ones with the time left before they expire, the decided ones,
and one request with its backtest (per tenant old / new / delta / %, p50 / p95 / max, revenue delta, the
10 most affected tenants), the approvals it needs and the policy rules that asked for them, the approvals
so far with their signatures checked, and the approve / reject forms.

The backtest is run again by a POST (approval_rerun: editors and approvers; viewers 403), never a GET.

Thin: the services (billing.governance.approvals) decide who may approve; the author of the version, or a
user without the approver's role, gets the page back with the refusal and a 403, never a 500."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from billing.governance.approvals import approval_grant, approval_reject
from billing.governance.backtest import backtest_run
from billing.profiles.models import ApprovalRequest
from billing.profiles.services import APPROVERS, EDITORS
from billing.profiles.signatures import approval_verifies
from common.errors import ApplicationError, PermissionDenied
from common.money_format import DocumentFormat
from portal.finance.access import FinanceRequest, finance_view
from portal.finance.approvals.forms import GrantForm, RejectForm

SECTION = "finance-approvals"
DECIDED_SHOWN = 100


def time_left(expires_at: datetime, now: datetime) -> str:
    """`6 days 23 hours`, `5 hours 12 minutes`, `12 minutes`, or `expired`."""
    left = expires_at - now
    if left <= timedelta(0):
        return "expired"
    minutes = int(left.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)

    def unit(n: int, name: str) -> str:
        return f"{n} {name}{'' if n == 1 else 's'}"

    if days:
        return f"{unit(days, 'day')} {unit(hours, 'hour')}"
    if hours:
        return f"{unit(hours, 'hour')} {unit(minutes, 'minute')}"
    return unit(max(minutes, 1), "minute")


def _user(request: FinanceRequest) -> User:
    """The signed-in user (`finance_view` let only those through)."""
    return cast(User, request.user)


def _requests() -> QuerySet[ApprovalRequest]:
    return ApprovalRequest.objects.select_related("version__profile", "version__author", "requested_by")


@finance_view
@require_GET
def approval_list(request: FinanceRequest) -> HttpResponse:
    now = timezone.now()
    open_rows = [
        {"request": r, "left": time_left(r.expires_at, now), "approvals": r.approvals.count()}
        for r in _requests().filter(status=ApprovalRequest.Status.OPEN).order_by("expires_at", "pk")
    ]
    decided = list(
        _requests().exclude(status=ApprovalRequest.Status.OPEN).order_by("-created_at", "-pk")[:DECIDED_SHOWN]
    )
    context = {"section": SECTION, "open_rows": open_rows, "decided": decided}
    return render(request, "portal/finance/approvals/list.html", context)


def _approval_request(request_id: int) -> ApprovalRequest:
    found: ApprovalRequest | None = _requests().filter(pk=request_id).first()
    if found is None:
        raise Http404("no such approval request")
    return found


def _backtest(stored: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(summary, per-tenant rows) of a stored backtest: the whole backtest or its summary alone."""
    if not isinstance(stored, dict):
        return {}, []
    summary = stored.get("summary", stored)
    rows = stored.get("rows")  # a summary alone counts its rows here
    return summary, rows if isinstance(rows, list) else []


def _page(
    request: FinanceRequest,
    found: ApprovalRequest,
    *,
    refusal: str = "",
    status: int = 200,
    rerun: dict[str, Any] | None = None,
) -> HttpResponse:
    now = timezone.now()
    version = found.version
    approvals = list(found.approvals.select_related("approver"))
    signed = [
        {
            "approval": a,
            "verifies": approval_verifies(
                approval=a, body_sha256=version.body_sha256, backtest_hash=found.backtest_hash
            ),
        }
        for a in approvals
    ]
    is_author = version.author_id == request.user.pk
    is_approver = bool(request.finance_roles & {r.value for r in APPROVERS})
    may_rerun = _may_rerun(request)
    already = any(a.approver_id == request.user.pk for a in approvals)
    may_decide = found.status == ApprovalRequest.Status.OPEN and is_approver and not is_author and not already
    summary, rows = _backtest(found.backtest)
    if rerun is not None:
        rows = rerun["rows"]
    context = {
        "section": SECTION,
        "req": found,
        "version": version,
        "profile": version.profile,
        "left": time_left(found.expires_at, now),
        "summary": summary,
        "rows": rows,
        "fmt": DocumentFormat(str(summary.get("currency") or version.body.get("currency", "EUR")), "en"),
        "approvals": signed,
        "is_author": is_author,
        "is_approver": is_approver,
        "already": already,
        "may_decide": may_decide,
        "grant_form": GrantForm() if may_decide else None,
        "reject_form": RejectForm() if may_decide else None,
        "refusal": refusal,
        "rerun": rerun,
        "may_rerun": may_rerun,
    }
    return render(request, "portal/finance/approvals/detail.html", context, status=status)


def _rerun(found: ApprovalRequest) -> dict[str, Any]:
    """The request's backtest run again as it was asked (same version, periods and instant), in this
    process: every tenant's rows, and whether its hash is the stored one (it is, unless usage was rated
    into those periods since)."""
    result = backtest_run(version=found.version, periods=found.periods, now=found.created_at, workers=1)
    return {
        "rows": [row.as_dict() for row in result.rows],
        "same": result.result_hash == found.backtest_hash,
        "hash": result.result_hash,
    }


def _may_rerun(request: FinanceRequest) -> bool:
    """Editors and approvers may run a request's backtest again (it is heavy): viewers read the stored one."""
    return bool(request.finance_roles & {r.value for r in EDITORS | APPROVERS})


@finance_view
@require_GET
def approval_detail(request: FinanceRequest, request_id: int) -> HttpResponse:
    return _page(request, _approval_request(request_id))


@finance_view
@require_POST
def approval_rerun(request: FinanceRequest, request_id: int) -> HttpResponse:
    """The request's backtest run again, every tenant and period listed: a POST (CSRF-checked) by an editor
    or an approver, never a link a crawler or a prefetch could follow."""
    if not _may_rerun(request):
        raise DjangoPermissionDenied("running a backtest again needs the finance editor or approver role")
    found = _approval_request(request_id)
    return _page(request, found, rerun=_rerun(found))


def _decide(request: FinanceRequest, found: ApprovalRequest, move: Any, done: str) -> HttpResponse:
    try:
        move()
    except PermissionDenied as err:
        return _page(request, found, refusal=err.message, status=403)
    except ApplicationError as err:
        messages.error(request, err.message)
    else:
        messages.success(request, done)
    return redirect("portal:finance:approval", request_id=found.pk)


@finance_view
@require_POST
def approval_grant_view(request: FinanceRequest, request_id: int) -> HttpResponse:
    found = _approval_request(request_id)
    form = GrantForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    return _decide(
        request,
        found,
        lambda: approval_grant(request=found, approver=_user(request), note=note),
        "Your approval is signed and recorded.",
    )


@finance_view
@require_POST
def approval_reject_view(request: FinanceRequest, request_id: int) -> HttpResponse:
    found = _approval_request(request_id)
    form = RejectForm(request.POST)
    if not form.is_valid():
        messages.error(request, "A rejection needs a reason.")
        return redirect("portal:finance:approval", request_id=found.pk)
    reason = form.cleaned_data["reason"]
    return _decide(
        request,
        found,
        lambda: approval_reject(request=found, approver=_user(request), reason=reason),
        "The request is rejected; the author can draft a new version.",
    )
