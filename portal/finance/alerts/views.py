"""Finance's alerts (/portal/finance/alerts/): every alert, filtered by state, kind and tenant, grouped
by group_key with counts; acknowledge and resolve by hand (finance editors and approvers; viewers read);
and the dead-lettered webhook deliveries of every tenant. Thin: ledger.alerts selectors and services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from common.errors import ApplicationError
from ledger.alerts.selectors import alert_get, alert_groups, alerts_all
from ledger.alerts.services import alert_acknowledge, alert_resolve_manually
from ledger.models import Alert
from portal.finance.access import FinanceRequest, finance_view
from portal.finance.queue.disputes import when_utc
from tenants.models import Role
from tenants.selectors import tenant_get
from tenants.webhooks.selectors import webhook_deliveries_dead

SECTION = "finance-alerts"
PAGE = 200
ACTORS = frozenset({Role.FINANCE_EDITOR.value, Role.FINANCE_APPROVER.value})


class AlertFilterForm(forms.Form):
    state = forms.ChoiceField(
        label="State", choices=[("", "Any state"), *Alert.State.choices], required=False
    )
    kind = forms.ChoiceField(label="Kind", choices=[("", "Any kind"), *Alert.Kind.choices], required=False)
    tenant = forms.SlugField(label="Tenant (slug)", required=False)


@finance_view
@require_GET
def alert_list(request: FinanceRequest) -> HttpResponse:
    form = AlertFilterForm(request.GET or None)
    filters: dict[str, Any] = {}
    unknown_tenant = False
    if form.is_valid():
        filters = {"state": form.cleaned_data["state"] or None, "kind": form.cleaned_data["kind"] or None}
        if form.cleaned_data["tenant"]:
            tenant = tenant_get(slug=form.cleaned_data["tenant"])
            unknown_tenant = tenant is None
            filters["tenant_id"] = tenant.pk if tenant is not None else -1
    alerts = alerts_all(**filters)
    rows = [
        {
            "alert": a,
            "fired": when_utc(a.created_at),
            "seen": when_utc(a.last_seen_at),
            "resolved": when_utc(a.resolved_at),
        }
        for a in alerts[:PAGE]
    ]
    context = {
        "section": SECTION,
        "form": form,
        "unknown_tenant": unknown_tenant,
        "groups": alert_groups(alerts),
        "rows": rows,
        "total": alerts.count(),
        "may_act": bool(request.finance_roles & ACTORS),
    }
    return render(request, "portal/finance/alerts/list.html", context, status=400 if form.errors else 200)


def _act(request: FinanceRequest, alert_id: int, move: Any, done: str) -> HttpResponse:
    if not request.finance_roles & ACTORS:
        raise PermissionDenied("finance editors and approvers act on alerts")
    alert = alert_get(alert_id=alert_id)
    if alert is None or not isinstance(request.user, AbstractBaseUser):
        raise Http404("no such alert")
    try:
        move(alert)
    except ApplicationError as err:
        messages.error(request, err.message)
    else:
        messages.success(request, done)
    return redirect("portal:finance:alerts")


def _actor(request: FinanceRequest) -> AbstractBaseUser:
    assert isinstance(request.user, AbstractBaseUser)  # finance_view let only a signed-in user in
    return request.user


@finance_view
@require_POST
def alert_acknowledge_view(request: FinanceRequest, alert_id: int) -> HttpResponse:
    return _act(
        request, alert_id, lambda a: alert_acknowledge(alert=a, actor=_actor(request)), "Acknowledged."
    )


@finance_view
@require_POST
def alert_resolve_view(request: FinanceRequest, alert_id: int) -> HttpResponse:
    return _act(
        request,
        alert_id,
        lambda a: alert_resolve_manually(alert=a, actor=_actor(request)),
        "Resolved (it fires again if its cause is still there).",
    )


@finance_view
@require_GET
def dead_deliveries(request: FinanceRequest) -> HttpResponse:
    deliveries = webhook_deliveries_dead()
    rows = [
        {"delivery": d, "completed": when_utc(d.completed_at), "attempts": list(d.attempt_log.all())}
        for d in deliveries[:PAGE]
    ]
    context = {"section": SECTION, "rows": rows, "total": deliveries.count()}
    return render(request, "portal/finance/alerts/deliveries.html", context)
