"""The customer's budget (/portal/budgets/): the current period's spend so far and its projection, the
budget, the commitment and the thresholds that alert, and the open budget and commitment alerts. Every
customer of the tenant reads; its customer admins edit (403 for anyone else's POST). Thin: reads through
billing.monitoring (selectors, budget_status), writes through budget_set."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from billing.monitoring.budgets import budget_set, budget_status
from billing.monitoring.selectors import budget_get, estimates_current
from billing.profiles.selectors import VersionTimeline
from common.errors import ValidationFailed
from common.money import quantize_money
from common.money_format import format_date, format_money
from common.periods import zone_or_utc
from ledger.alerts.selectors import alerts_for_tenant
from ledger.models import Alert
from portal.access import PortalRequest, tenant_view
from portal.budgets.forms import BudgetForm, split_list
from tenants.selectors import user_is_customer_admin_of

SECTION = "budgets"
KINDS = (Alert.Kind.BUDGET.value, Alert.Kind.COMMITMENT.value)


@tenant_view
@require_http_methods(["GET", "POST"])
def budgets(request: PortalRequest) -> HttpResponse:
    tenant = request.tenant
    may_edit = user_is_customer_admin_of(user=request.user, tenant_id=tenant.pk)
    budget = budget_get(tenant=tenant)
    if request.method == "POST":
        if not may_edit:
            raise PermissionDenied("only the tenant's customer admins edit its budget")
        form = BudgetForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                budget_set(
                    tenant=tenant,
                    amount=data["amount"],
                    thresholds_pct=split_list(data["thresholds_pct"]),
                    thresholds_money=split_list(data["thresholds_money"]),
                    plan_multiplier=data["plan_multiplier"],
                    actor=request.user,  # type: ignore[arg-type]
                )
            except ValidationFailed as err:
                for issue in err.issues:
                    form.add_error(issue.field.split("[")[0], issue.message)
            else:
                messages.success(request, "Your budget is saved. Alerts follow it from the next evaluation.")
                return redirect("portal:budgets")
        return render(request, "portal/budgets/index.html", _context(request, form, may_edit), status=400)
    initial: dict[str, Any] = {"plan_multiplier": "2", "thresholds_pct": "80, 100"}
    if budget is not None:
        initial = {
            "amount": "" if budget.amount is None else str(quantize_money(budget.amount, tenant.currency)),
            "thresholds_pct": ", ".join(str(p) for p in budget.thresholds_pct),
            "thresholds_money": ", ".join(budget.thresholds_money),
            "plan_multiplier": str(budget.plan_multiplier.normalize()),
        }
    return render(
        request, "portal/budgets/index.html", _context(request, BudgetForm(initial=initial), may_edit)
    )


def _context(request: PortalRequest, form: BudgetForm, may_edit: bool) -> dict[str, Any]:
    tenant = request.tenant
    now = timezone.now()
    status = budget_status(
        tenant=tenant,
        now=now,
        timeline=VersionTimeline([tenant.pk]),
        estimates=estimates_current(tenant_ids=[tenant.pk], now=now).get(tenant.pk, []),
        budget=budget_get(tenant=tenant),
    )
    zone = zone_or_utc(tenant.timezone)

    def money(value: Decimal | None) -> str:
        if value is None:
            return ""
        return format_money(quantize_money(value, status.currency), status.currency, tenant.locale)

    rules = status.rules
    levels = (
        [(pct, rules.budget * pct / 100) for pct in rules.thresholds_pct] if rules.budget is not None else []
    )
    thresholds = [
        {"label": f"{pct} % of the budget", "amount": money(level), "reached": status.projected >= level}
        for pct, level in levels
    ] + [
        {"label": "Amount", "amount": money(value), "reached": status.projected >= value}
        for value in rules.thresholds_money
    ]
    alerts = alerts_for_tenant(tenant=tenant).filter(kind__in=KINDS).exclude(state=Alert.State.RESOLVED)
    return {
        "section": SECTION,
        "form": form,
        "may_edit": may_edit,
        "period_key": status.period_key,
        "first_day": format_date(status.period_start.astimezone(zone).date(), tenant.locale),
        "last_day": format_date(
            (status.period_end.astimezone(zone) - timedelta(microseconds=1)).date(), tenant.locale
        ),
        "elapsed_pct": int(status.fraction * 100),
        "spent": money(status.spent),
        "projected": money(status.projected),
        "budget": money(rules.budget),
        "commitment": money(rules.commitment),
        "plan_multiplier": rules.plan_multiplier.normalize(),
        "thresholds": thresholds,
        "currency": status.currency,
        "alerts": alerts[:50],
    }
