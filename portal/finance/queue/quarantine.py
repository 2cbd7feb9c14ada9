"""Finance's quarantine triage: quarantined usage by reason with counts, broken down by the customer and
SKU the client sent; a reason group (or some of its events) re-attributed in bulk to a customer and
optionally one of its projects, after which rating prices it and the close bills it
(billing.usage.quarantine.usage_events_reattribute, at most QUARANTINE_REATTRIBUTE_MAX events a request)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from billing.catalog.selectors import sku_get
from billing.usage.quarantine import (
    REATTRIBUTING_ROLES,
    usage_events_reattribute,
    usage_events_reattribute_max,
)
from billing.usage.selectors import quarantine_breakdown, quarantine_groups, quarantined_group_events
from common.errors import ApplicationError, PermissionDenied
from portal.finance.access import FinanceRequest, finance_view
from portal.finance.queue.disputes import when_utc
from portal.finance.queue.forms import ReattributeForm
from tenants.selectors import project_get, tenant_get, user_is_finance

SECTION = "finance-quarantine"
SAMPLE = 100


def _group(params: Any) -> dict[str, str]:
    """The reason group a request names (`reason`, narrowed by `sku_code` and `tenant_slug`)."""
    return {k: str(params[k]) for k in ("reason", "sku_code", "tenant_slug") if params.get(k)}


def _page_url(group: dict[str, str]) -> str:
    url = reverse("portal:finance:quarantine")
    return f"{url}?{urlencode(group)}" if group else url


@finance_view
@require_GET
def quarantine_page(request: FinanceRequest) -> HttpResponse:
    group = _group(request.GET)
    reason = group.get("reason")
    rows = quarantine_breakdown(reason=reason)
    breakdown = [
        {"g": g, "url": _page_url({"reason": g.reason, "tenant_slug": g.tenant_slug, "sku_code": g.sku_code})}
        for g in rows
    ]
    events = (
        quarantined_group_events(
            reason=reason, sku_code=group.get("sku_code"), tenant_slug=group.get("tenant_slug"), limit=SAMPLE
        )
        if reason
        else []
    )
    groups = quarantine_groups()
    if set(group) == {"reason"}:  # a whole reason: its count, not the sum of the breakdown's largest rows
        group_size = sum(g.events for g in groups if g.reason == reason)
    else:
        group_size = sum(g.events for g in rows if _matches(g, group))
    context = {
        "section": SECTION,
        "groups": [
            {"g": g, "url": _page_url({"reason": g.reason}), "oldest": when_utc(g.oldest)} for g in groups
        ],
        "breakdown": breakdown,
        "group": group,
        "group_size": f"{group_size:,}",
        "events": [{"e": e, "received": when_utc(e.received_at)} for e in events],
        "cap": f"{usage_events_reattribute_max():,}",
        "may_act": user_is_finance(user=request.user, roles=REATTRIBUTING_ROLES),
    }
    return render(request, "portal/finance/queue/quarantine.html", context)


def _matches(g: Any, group: dict[str, str]) -> bool:
    return all(getattr(g, key) == value for key, value in group.items())


@finance_view
@require_POST
def quarantine_reattribute(request: FinanceRequest) -> HttpResponse:
    form = ReattributeForm(request.POST)
    group = _group(request.POST)
    back = HttpResponseRedirect(_page_url(group))
    if not user_is_finance(user=request.user, roles=REATTRIBUTING_ROLES):
        raise DjangoPermissionDenied("only finance editors and approvers re-attribute usage")
    if not form.is_valid():
        messages.error(request, "; ".join(str(e) for errors in form.errors.values() for e in errors))
        return back
    data = form.cleaned_data
    tenant = sku = project = None
    if data["target_tenant"].strip():
        tenant = tenant_get(slug=data["target_tenant"].strip())
        if tenant is None:
            messages.error(request, f"There is no customer {data['target_tenant']!r}.")
            return back
    if data["target_sku"].strip():
        sku = sku_get(code=data["target_sku"].strip())
        if sku is None:
            messages.error(request, f"There is no SKU {data['target_sku']!r}.")
            return back
    if data["target_project"].strip():
        if tenant is None:
            messages.error(request, "Give the customer whose project it is.")
            return back
        project = project_get(tenant=tenant, code=data["target_project"].strip())
        if project is None:
            messages.error(request, f"{tenant.slug} has no project {data['target_project']!r}.")
            return back
    chosen = data["events"] if request.POST.get("scope") == "selected" else None
    if chosen == []:
        messages.error(request, "Tick the events to re-attribute, or choose the whole group.")
        return back
    try:
        result = usage_events_reattribute(
            tenant=tenant,
            sku=sku,
            project=project,
            actor=request.user,  # type: ignore[arg-type]
            events=chosen,
            reason=None if chosen is not None else data["reason"],
            sku_code=None if chosen is not None else (data["sku_code"] or None),
            tenant_slug=None if chosen is not None else (data["tenant_slug"] or None),
        )
    except PermissionDenied as err:
        raise DjangoPermissionDenied(err.message) from err
    except ApplicationError as err:
        messages.error(request, err.message)
        return back
    to = ", ".join(
        f"{what} {value}"
        for what, value in (
            ("customer", tenant.slug if tenant else ""),
            ("SKU", sku.code if sku else ""),
            ("project", project.code if project else ""),
        )
        if value
    )
    text = f"Re-attributed {result.reattributed:,} event(s) to {to}; they are queued for rating."
    if result.left:
        text += (
            " Left quarantined: " + "; ".join(f"{why}: {n:,}" for why, n in sorted(result.left.items())) + "."
        )
    if result.remaining:
        text += (
            f" {result.remaining:,} more of this group wait beyond the {usage_events_reattribute_max():,} "
            "a request re-attributes: submit again."
        )
    messages.success(request, text)
    return back
