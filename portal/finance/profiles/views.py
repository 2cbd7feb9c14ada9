"""Finance's price lists: every profile with the tenants on it, a profile's version timeline, a version,
its diff against the version in force, drafting (a YAML document in a textarea, `effective_from` in UTC)
and submitting a draft for approval with its backtest.

Thin: reads through billing.profiles.overview, writes through the profile services, whose field errors
are shown next to the editor at the line each names. Viewers read; drafting needs the editor's or the
approver's role (the services check it again: a viewer's POST is a 403)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from billing.governance.approvals import approval_request_create, open_request_of
from billing.profiles.diff import body_yaml, profile_body_diff
from billing.profiles.models import BillingProfile, ProfileVersion
from billing.profiles.overview import (
    STATE_LABELS,
    profile_timeline,
    profiles_overview,
    tenants_on_profile,
    version_compared,
    version_in_force,
    version_state,
)
from billing.profiles.rollout_models import Rollout
from billing.profiles.services import (
    APPROVERS,
    EDITORS,
    draft_edit_refusal,
    profile_version_create,
    profile_version_update_draft,
)
from common.errors import ApplicationError, FieldIssue, PermissionDenied
from portal.finance.access import FinanceRequest, finance_view
from portal.finance.profiles.forms import DraftForm, SubmitForm
from portal.finance.profiles.yaml_doc import PlacedIssue, YamlSyntaxError, issues_placed, yaml_load

SECTION = "finance-profiles"


def _user(request: FinanceRequest) -> User:
    """The signed-in user (`finance_view` let only those through)."""
    return cast(User, request.user)


def may_draft(request: FinanceRequest) -> bool:
    return bool(request.finance_roles & {r.value for r in EDITORS})


def _require_drafter(request: FinanceRequest) -> None:
    if not may_draft(request):
        raise DjangoPermissionDenied("drafting needs the finance editor's or approver's role")


def _profile(profile_id: int) -> BillingProfile:
    profile = BillingProfile.objects.filter(pk=profile_id).first()
    if profile is None:
        raise Http404("no such profile")
    return profile


def _version(version_id: int) -> ProfileVersion:
    version = (
        ProfileVersion.objects.select_related("profile", "author", "decided_by").filter(pk=version_id).first()
    )
    if version is None:
        raise Http404("no such version")
    return version


@finance_view
@require_GET
def profile_list(request: FinanceRequest) -> HttpResponse:
    rows = profiles_overview(now=timezone.now())
    return render(request, "portal/finance/profiles/list.html", {"section": SECTION, "rows": rows})


@finance_view
@require_GET
def profile_detail(request: FinanceRequest, profile_id: int) -> HttpResponse:
    profile = _profile(profile_id)
    now = timezone.now()
    context = {
        "section": SECTION,
        "profile": profile,
        "timeline": profile_timeline(profile=profile, now=now),
        "tenants": tenants_on_profile(profile=profile, now=now),
        "may_draft": may_draft(request),
    }
    return render(request, "portal/finance/profiles/profile.html", context)


def _approval_requests(version: ProfileVersion) -> list[Any]:
    related = getattr(version, "approval_requests", None)
    return list(related.order_by("-created_at")) if related is not None else []


@finance_view
@require_GET
def version_detail(request: FinanceRequest, version_id: int) -> HttpResponse:
    version = _version(version_id)
    now = timezone.now()
    versions = list(ProfileVersion.objects.filter(profile_id=version.profile_id).select_related("rollout"))
    is_draft = version.status == ProfileVersion.Status.DRAFT
    submittable = may_draft(request) and (
        is_draft
        or (version.status == ProfileVersion.Status.PENDING_APPROVAL and open_request_of(version) is None)
    )
    state = version_state(version, in_force=version_in_force(versions, now=now), now=now)
    context = {
        "section": SECTION,
        "profile": version.profile,
        "version": version,
        "state": state,
        "state_label": STATE_LABELS[state],
        "document": body_yaml(version.body),
        "may_edit": is_draft and may_draft(request),
        "submit_form": SubmitForm() if submittable else None,
        "requests": _approval_requests(version),
        "compared": version_compared(version=version, now=now),
        "rollout": Rollout.objects.filter(version=version).first(),
        "may_schedule": state == "scheduled" and bool(request.finance_roles & {r.value for r in APPROVERS}),
    }
    return render(request, "portal/finance/profiles/version.html", context)


def _next_month(now: datetime) -> datetime:
    year, month = (now.year + 1, 1) if now.month == 12 else (now.year, now.month + 1)
    return datetime(year, month, 1, tzinfo=UTC)


def _editor(
    request: FinanceRequest,
    *,
    profile: BillingProfile,
    version: ProfileVersion | None,
    form: DraftForm,
    issues: list[PlacedIssue],
    status: int = 200,
) -> HttpResponse:
    text = str(form.data.get("document", "")) if form.is_bound else str(form.initial.get("document", ""))
    marked = {i.line for i in issues if i.line is not None}
    lines = [
        {"number": n, "text": line, "marked": n in marked} for n, line in enumerate(text.splitlines(), 1)
    ]
    context = {
        "section": SECTION,
        "profile": profile,
        "version": version,
        "form": form,
        "issues": issues,
        "lines": lines if issues else [],
    }
    return render(request, "portal/finance/profiles/edit.html", context, status=status)


def _save(
    request: FinanceRequest, form: DraftForm, save: Any
) -> tuple[ProfileVersion | None, list[PlacedIssue]]:
    """Parse and save through `save(body, effective_from)`; the problems, each at its line."""
    if not form.is_valid():
        return None, [PlacedIssue(f, str(e[0]), None) for f, e in form.errors.items() if f != "document"] + [
            PlacedIssue("document", str(e), None) for e in form.errors.get("document", [])
        ]
    text = form.cleaned_data["document"]
    try:
        body = yaml_load(text)
    except YamlSyntaxError as err:
        return None, [err.issue]
    try:
        return save(body, form.cleaned_data["effective_from"]), []
    except PermissionDenied as err:
        raise DjangoPermissionDenied(err.message) from err
    except ApplicationError as err:
        issues = err.issues or [FieldIssue("document", err.message)]
        return None, issues_placed(text, issues)


@finance_view
@require_http_methods(["GET", "POST"])
def version_new(request: FinanceRequest, profile_id: int) -> HttpResponse:
    _require_drafter(request)
    profile = _profile(profile_id)
    if request.method == "POST":
        form = DraftForm(request.POST)

        def create(body: Any, effective_from: datetime) -> ProfileVersion:
            return profile_version_create(
                profile=profile, body=body, effective_from=effective_from, author=_user(request)
            )

        version, issues = _save(request, form, create)
        if version is not None:
            messages.success(request, f"Draft version {version.number} saved.")
            return redirect("portal:finance:version", version_id=version.pk)
        return _editor(request, profile=profile, version=None, form=form, issues=issues, status=400)
    now = timezone.now()
    base = (
        version_in_force(list(profile.versions.select_related("rollout")), now=now)
        or profile.versions.order_by("-number").first()
    )
    body = base.body if base is not None else {"profile": profile.code, "currency": "EUR", "prices": []}
    form = DraftForm(initial={"document": body_yaml(body), "effective_from": _next_month(now)})
    return _editor(request, profile=profile, version=None, form=form, issues=[])


@finance_view
@require_http_methods(["GET", "POST"])
def version_edit(request: FinanceRequest, version_id: int) -> HttpResponse:
    _require_drafter(request)
    version = _version(version_id)
    if version.status != ProfileVersion.Status.DRAFT:
        messages.error(
            request,
            f"Version {version.number} is {version.get_status_display().lower()}: "
            "only drafts can be edited. Draft a new version instead.",
        )
        return redirect("portal:finance:version", version_id=version.pk)
    refusal = draft_edit_refusal(version, _user(request))
    if refusal is not None:
        messages.error(request, refusal[0].upper() + refusal[1:] + ".")
        return redirect("portal:finance:version", version_id=version.pk)
    if request.method == "POST":
        form = DraftForm(request.POST)

        def update(body: Any, effective_from: datetime) -> ProfileVersion:
            return profile_version_update_draft(
                version=version, body=body, effective_from=effective_from, actor=_user(request)
            )

        saved, issues = _save(request, form, update)
        if saved is not None:
            messages.success(request, f"Draft version {saved.number} saved.")
            return redirect("portal:finance:version", version_id=saved.pk)
        return _editor(
            request, profile=version.profile, version=version, form=form, issues=issues, status=400
        )
    form = DraftForm(initial={"document": body_yaml(version.body), "effective_from": version.effective_from})
    return _editor(request, profile=version.profile, version=version, form=form, issues=[])


def _line_kind(line: str) -> str:
    if line.startswith(("+++", "---", "@@")):
        return "diff-head"
    return {"+": "diff-add", "-": "diff-del"}.get(line[:1], "diff-same")


@finance_view
@require_GET
def version_diff(request: FinanceRequest, version_id: int) -> HttpResponse:
    version = _version(version_id)
    compared = version_compared(version=version, now=timezone.now())
    context = {"section": SECTION, "profile": version.profile, "version": version, "compared": compared}
    diff = profile_body_diff(old=compared.body, new=version.body) if compared is not None else None
    context["diff"] = diff
    context["diff_lines"] = [
        {"text": line, "kind": _line_kind(line)} for line in (diff.text if diff else "").splitlines()
    ]
    return render(request, "portal/finance/profiles/diff.html", context)


@finance_view
@require_POST
def version_submit(request: FinanceRequest, version_id: int) -> HttpResponse:
    _require_drafter(request)
    version = _version(version_id)
    form = SubmitForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose how many closed periods to backtest: 1 to 12.")
        return redirect("portal:finance:version", version_id=version.pk)
    try:
        approval = approval_request_create(
            version=version, actor=_user(request), periods=form.cleaned_data["periods"]
        )
    except PermissionDenied as err:
        raise DjangoPermissionDenied(err.message) from err
    except ApplicationError as err:
        messages.error(request, err.message)
        return redirect("portal:finance:version", version_id=version.pk)
    messages.success(request, f"Version {version.number} is submitted for approval with its backtest.")
    return redirect("portal:finance:approval", request_id=approval.pk)
