"""Finance's allocation rules (docs/showback.md): every rule per tenant with its version in force and the
versions waiting; a new rule; a rule's page with each version (status, author, approvals, the month it
takes effect, its body as a table of targets and weights) and the moves open to the user; a new draft
version (a form of the shared cost, the split, the targets and the month, errors beside each field);
submitting, approving and rejecting a version.

Thin: reads through billing.allocation.overview, writes through billing.allocation.services, which decide
who may do what (roles, four eyes) and validate the body. A service's refusal is shown as a message (a
403 page for a PermissionDenied), never a 500. Viewers read; every write is a CSRF-checked POST."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from billing.allocation.models import AllocationRule, AllocationRuleVersion
from billing.allocation.overview import (
    body_table,
    current_period_key,
    rule_version,
    rule_with_versions,
    rules_overview,
    tenant_projects,
)
from billing.allocation.selectors import version_in_force
from billing.allocation.services import (
    allocation_rule_create,
    allocation_version_approve,
    allocation_version_create,
    allocation_version_reject,
    allocation_version_submit,
    decision_refusal,
)
from billing.profiles.roles import EDITORS
from common.errors import ApplicationError, Conflict, PermissionDenied
from common.money_format import format_money, format_percent
from portal.finance.access import FinanceRequest, finance_view
from portal.finance.showback.forms import (
    ApproveForm,
    Draft,
    RejectForm,
    RuleForm,
    draft_initial,
    target_rows,
)
from tenants.models import Tenant

SECTION = "finance-showback"


def _user(request: FinanceRequest) -> User:
    """The signed-in user (`finance_view` let only those through)."""
    return cast(User, request.user)


def may_draft(request: FinanceRequest) -> bool:
    return bool(request.finance_roles & {r.value for r in EDITORS})


def _require_drafter(request: FinanceRequest) -> None:
    if not may_draft(request):
        raise DjangoPermissionDenied("allocation rules are written by finance editors and approvers")


def _rule(rule_id: int) -> AllocationRule:
    rule = rule_with_versions(rule_id=rule_id)
    if rule is None:
        raise Http404("no such allocation rule")
    return rule


def _version(version_id: int) -> AllocationRuleVersion:
    version = rule_version(version_id=version_id)
    if version is None:
        raise Http404("no such allocation rule version")
    return version


@finance_view
@require_GET
def rule_list(request: FinanceRequest) -> HttpResponse:
    slug = str(request.GET.get("tenant", "")).strip()
    tenant = Tenant.objects.filter(slug=slug).first() if slug else None
    error = f"no tenant {slug!r}" if slug and tenant is None else ""
    context = {
        "section": SECTION,
        "tenants": Tenant.objects.order_by("slug").values_list("slug", "name"),
        "tenant": tenant,
        "error": error,
        "rows": [] if error else rules_overview(tenant=tenant),
        "may_draft": may_draft(request),
    }
    return render(request, "portal/finance/showback/rules.html", context, status=400 if error else 200)


@finance_view
@require_http_methods(["GET", "POST"])
def rule_new(request: FinanceRequest) -> HttpResponse:
    _require_drafter(request)
    form = RuleForm(request.POST or None, initial={"tenant": request.GET.get("tenant", "")})
    if request.method == "POST" and form.is_valid():
        try:
            rule = allocation_rule_create(
                tenant=form.cleaned_data["tenant"],
                code=form.cleaned_data["code"],
                name=form.cleaned_data["name"],
                actor=_user(request),
            )
        except PermissionDenied as err:
            raise DjangoPermissionDenied(err.message) from err
        except Conflict as err:
            form.add_error("code", err.message)
        except ApplicationError as err:
            form.add_error(None, err.message)
        else:
            messages.success(request, f"Rule {rule.code} created: draft its first version.")
            return redirect("portal:finance:showback-rule-draft", rule_id=rule.pk)
    status = 400 if form.is_bound else 200
    context = {"section": SECTION, "form": form}
    return render(request, "portal/finance/showback/rule_new.html", context, status=status)


def _fmt_amount(table: Any) -> str:
    return format_money(table.amount, table.currency, "en") if table.amount is not None else ""


def _rule_page(
    request: FinanceRequest, rule: AllocationRule, *, refusal: str = "", status: int = 200
) -> HttpResponse:
    user = _user(request)
    versions = list(rule.versions.all())
    period = current_period_key(tenant=rule.tenant)
    in_force = version_in_force(versions=versions, period_key=period)
    projects = tenant_projects(tenant=rule.tenant)
    rows = []
    for v in versions:
        table = body_table(body=v.body, projects=projects)
        approvals = list(v.approvals.all())
        pending = v.status == AllocationRuleVersion.Status.PENDING_APPROVAL
        why_not = decision_refusal(version=v, user=user) if pending else None
        if pending and why_not is None and any(a.approver_id == user.pk for a in approvals):
            why_not = "you have approved this version; it waits for another approver"
        rows.append(
            {
                "version": v,
                "table": table,
                "amount": _fmt_amount(table),
                "targets": [
                    (t, format_percent(t.percentage, "en") if t.percentage is not None else "")
                    for t in table.rows
                ],
                "approvals": approvals,
                "in_force": in_force is not None and v.pk == in_force.pk,
                "may_submit": v.status == AllocationRuleVersion.Status.DRAFT and may_draft(request),
                "may_decide": pending and why_not is None,
                "why_not": why_not,
                "is_author": v.author_id == user.pk,
            }
        )
    context = {
        "section": SECTION,
        "rule": rule,
        "period": period,
        "in_force": in_force,
        "rows": rows,
        "may_draft": may_draft(request),
        "approve_form": ApproveForm(),
        "reject_form": RejectForm(),
        "refusal": refusal,
    }
    return render(request, "portal/finance/showback/rule.html", context, status=status)


@finance_view
@require_GET
def rule_detail(request: FinanceRequest, rule_id: int) -> HttpResponse:
    return _rule_page(request, _rule(rule_id))


@finance_view
@require_http_methods(["GET", "POST"])
def version_new(request: FinanceRequest, rule_id: int) -> HttpResponse:
    """A new draft: the form starts from the rule's last version (or empty), takes effect next month."""
    _require_drafter(request)
    rule = _rule(rule_id)
    last = next(iter(rule.versions.all()), None)
    body = last.body if last is not None else None
    if request.method == "POST":
        draft = Draft(request.POST)
        if draft.is_valid():
            body = draft.body()
            try:
                version = allocation_version_create(
                    rule=rule,
                    body=body,
                    effective_from=draft.form.cleaned_data["effective_from"],
                    actor=_user(request),
                )
            except PermissionDenied as err:
                raise DjangoPermissionDenied(err.message) from err
            except ApplicationError as err:
                draft.place_issues(err.issues, list(body["targets"]))
                if not err.issues:
                    draft.general.append(err.message)
            else:
                messages.success(request, f"Draft version {version.number} saved: submit it for approval.")
                return redirect(f"{rule_page_url(rule.pk)}#v{version.number}")
        status = 400
    else:
        period = current_period_key(tenant=rule.tenant)
        draft = Draft(
            initial=draft_initial(body, currency=rule.tenant.currency, effective_from=_next(period)),
            rows=target_rows(body),
        )
        status = 200
    context = {
        "section": SECTION,
        "rule": rule,
        "draft": draft,
        "form": draft.form,
        "targets": draft.targets,
        "projects": tenant_projects(tenant=rule.tenant),
        "based_on": last,
    }
    return render(request, "portal/finance/showback/draft.html", context, status=status)


def _next(period: str) -> str:
    year, month = int(period[:4]), int(period[5:7])
    return f"{year + 1:04d}-01" if month == 12 else f"{year:04d}-{month + 1:02d}"


def rule_page_url(rule_id: int) -> str:
    return reverse("portal:finance:showback-rule", kwargs={"rule_id": rule_id})


def _move(
    request: FinanceRequest, version: AllocationRuleVersion, move: Callable[[], object], done: str = ""
) -> HttpResponse:
    """Run a service's move; its refusal becomes a message (a PermissionDenied: the rule page with it,
    403), the page is shown again at the version."""
    try:
        move()
    except PermissionDenied as err:
        return _rule_page(request, _rule(version.rule_id), refusal=err.message, status=403)
    except ApplicationError as err:
        messages.error(request, err.message[:1].upper() + err.message[1:] + ".")
    else:
        if done:
            messages.success(request, done)
    return redirect(f"{rule_page_url(version.rule_id)}#v{version.number}")


@finance_view
@require_POST
def version_submit(request: FinanceRequest, rule_version_id: int) -> HttpResponse:
    version = _version(rule_version_id)
    return _move(
        request,
        version,
        lambda: allocation_version_submit(version=version, actor=_user(request)),
        f"Version {version.number} is submitted: a finance approver other than its author decides it.",
    )


@finance_view
@require_POST
def version_approve(request: FinanceRequest, rule_version_id: int) -> HttpResponse:
    version = _version(rule_version_id)
    form = ApproveForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""

    def approve() -> None:
        approved = allocation_version_approve(version=version, approver=_user(request), note=note)
        if approved.status == AllocationRuleVersion.Status.APPROVED:
            messages.success(
                request, f"Version {approved.number} is approved: in force from {approved.effective_from}."
            )
        else:
            messages.success(request, f"Your approval of version {approved.number} is recorded.")

    return _move(request, version, approve)


@finance_view
@require_POST
def version_reject(request: FinanceRequest, rule_version_id: int) -> HttpResponse:
    version = _version(rule_version_id)
    form = RejectForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    return _move(
        request,
        version,
        lambda: allocation_version_reject(version=version, approver=_user(request), reason=reason),
        f"Version {version.number} is rejected; a new draft can replace it.",
    )
