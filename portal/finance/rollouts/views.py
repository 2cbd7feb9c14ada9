"""Finance's canary rollouts: the list (and the approved versions that could start as a canary), one
rollout's watch page (per cohort tenant the estimated bill for the current period under the canary and
under the version it replaces, the disputes the cohort opened, the guardrails and what breaches them),
scheduling a canary for an approved version, and the promote / roll back / check-now actions.

Thin: billing.governance.rollouts decides who may do what (approvers only); a refusal comes back on the page
with a 403 or as a message, never a 500."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.models import User
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from billing.governance.rollout_watch import rollout_watch, rollouts_list
from billing.governance.rollouts import (
    rollout_guardrails_check,
    rollout_promote,
    rollout_rollback,
    rollout_schedule,
)
from billing.profiles.models import ProfileAssignment, ProfileVersion
from billing.profiles.rollout_models import Rollout
from billing.profiles.services import APPROVERS
from common.errors import ApplicationError, PermissionDenied
from common.money_format import DocumentFormat
from portal.finance.access import FinanceRequest, finance_view
from portal.finance.rollouts.forms import DecisionForm, ScheduleForm
from tenants.models import Tenant

SECTION = "finance-rollouts"


def _user(request: FinanceRequest) -> User:
    return cast(User, request.user)  # finance_view lets only signed-in users through


def _is_approver(request: FinanceRequest) -> bool:
    return bool(request.finance_roles & {r.value for r in APPROVERS})


def _rollout(rollout_id: int) -> Rollout:
    found = (
        Rollout.objects.select_related(
            "version__profile", "created_by", "promoted_by", "rolled_back_by", "rollback_version"
        )
        .filter(pk=rollout_id)
        .first()
    )
    if found is None:
        raise Http404("no such rollout")
    return found


def _schedulable() -> list[ProfileVersion]:
    """Approved versions not yet in force and without a rollout: what a canary can start from."""
    return list(
        ProfileVersion.objects.filter(
            status=ProfileVersion.Status.APPROVED, effective_from__gt=timezone.now(), rollout__isnull=True
        )
        .select_related("profile")
        .order_by("effective_from", "pk")
    )


@finance_view
@require_GET
def rollout_list(request: FinanceRequest) -> HttpResponse:
    context = {
        "section": SECTION,
        "rollouts": rollouts_list(),
        "schedulable": _schedulable(),
        "is_approver": _is_approver(request),
    }
    return render(request, "portal/finance/rollouts/list.html", context)


def _page(request: FinanceRequest, rollout: Rollout, *, refusal: str = "", status: int = 200) -> HttpResponse:
    watch = rollout_watch(rollout=rollout, now=timezone.now())
    active = rollout.status in Rollout.ACTIVE_STATUSES
    context = {
        "section": SECTION,
        "rollout": rollout,
        "version": rollout.version,
        "profile": rollout.version.profile,
        "watch": watch,
        "fmt": DocumentFormat(str(rollout.version.body.get("currency", "EUR")), "en"),
        "explicit": rollout.cohort_kind == Rollout.CohortKind.EXPLICIT,
        "may_act": active and _is_approver(request) and watch.started,
        "may_check": rollout.status == Rollout.Status.CANARY and watch.started,
        "decision_form": DecisionForm(),
        "refusal": refusal,
    }
    return render(request, "portal/finance/rollouts/detail.html", context, status=status)


@finance_view
@require_GET
def rollout_detail(request: FinanceRequest, rollout_id: int) -> HttpResponse:
    return _page(request, _rollout(rollout_id))


def _act(request: FinanceRequest, rollout: Rollout, move: Callable[[], Any], done: str) -> HttpResponse:
    try:
        move()
    except PermissionDenied as err:
        return _page(request, rollout, refusal=err.message, status=403)
    except ApplicationError as err:
        messages.error(request, err.message)
    else:
        messages.success(request, done)
    return redirect("portal:finance:rollout", rollout_id=rollout.pk)


def _reason(request: FinanceRequest) -> str:
    form = DecisionForm(request.POST)
    return str(form.cleaned_data["reason"]) if form.is_valid() else ""


@finance_view
@require_POST
def rollout_promote_view(request: FinanceRequest, rollout_id: int) -> HttpResponse:
    rollout = _rollout(rollout_id)
    reason = _reason(request)
    return _act(
        request,
        rollout,
        lambda: rollout_promote(rollout=rollout, actor=_user(request), note=reason),
        "Promoted: every tenant of the price list is on this version from now on.",
    )


@finance_view
@require_POST
def rollout_rollback_view(request: FinanceRequest, rollout_id: int) -> HttpResponse:
    rollout = _rollout(rollout_id)
    reason = _reason(request)
    return _act(
        request,
        rollout,
        lambda: rollout_rollback(rollout=rollout, actor=_user(request), reason=reason),
        "Rolled back: the previous prices are in force again from now, as a new version.",
    )


@finance_view
@require_POST
def rollout_check_view(request: FinanceRequest, rollout_id: int) -> HttpResponse:
    rollout = _rollout(rollout_id)
    halted = rollout_guardrails_check(rollout=rollout)
    if halted:
        messages.error(request, f"A guardrail is breached: the rollout is halted. {halted[0].halt_reason}")
    else:
        messages.success(request, "Guardrails checked: nothing is breached.")
    return redirect("portal:finance:rollout", rollout_id=rollout.pk)


@finance_view
@require_http_methods(["GET", "POST"])
def rollout_new(request: FinanceRequest, version_id: int) -> HttpResponse:
    version = ProfileVersion.objects.select_related("profile").filter(pk=version_id).first()
    if version is None:
        raise Http404("no such version")
    on_profile = Tenant.objects.filter(
        pk__in=ProfileAssignment.objects.filter(profile_id=version.profile_id)
        .exclude(effective_to__lte=version.effective_from)
        .values("tenant_id")
    ).order_by("slug")
    form = ScheduleForm(request.POST or None, tenants=on_profile)
    refusal, status = "", 200
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        explicit = data["cohort_kind"] == "explicit"
        try:
            rollout = rollout_schedule(
                version=version,
                actor=_user(request),
                tenants=list(data["tenants"]) if explicit else None,
                percent=None if explicit else data["percent"],
                max_bill_change_pct=data["max_bill_change_pct"],
                max_disputes=data["max_disputes"],
            )
        except PermissionDenied as err:
            refusal, status = err.message, 403
        except ApplicationError as err:
            for issue in err.issues:
                form.add_error(issue.field if issue.field in form.fields else None, issue.message)
            if not err.issues:
                form.add_error(None, err.message)
            status = 400
        else:
            messages.success(request, "The canary is scheduled.")
            return redirect("portal:finance:rollout", rollout_id=rollout.pk)
    elif request.method == "POST":
        status = 400
    context = {
        "section": SECTION,
        "version": version,
        "profile": version.profile,
        "form": form,
        "refusal": refusal,
        "is_approver": _is_approver(request),
    }
    return render(request, "portal/finance/rollouts/new.html", context, status=status)
