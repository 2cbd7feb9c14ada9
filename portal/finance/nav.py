"""The finance workspace's navigation, for its templates (a context processor): one entry per area,
shown once the area's URL exists. Finance users also get a link to the workspace in the portal header."""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

from tenants.selectors import user_is_finance

AREAS: tuple[tuple[str, str, str], ...] = (
    ("Dashboards", "portal:finance:dashboards", "finance-dashboards"),
    ("Alerts", "portal:finance:alerts", "finance-alerts"),
    ("Price lists", "portal:finance:profiles", "finance-profiles"),
    ("Approvals", "portal:finance:approvals", "finance-approvals"),
    ("Rollouts", "portal:finance:rollouts", "finance-rollouts"),
    ("Disputes", "portal:finance:disputes", "finance-disputes"),
    ("Quarantine", "portal:finance:quarantine", "finance-quarantine"),
    ("Reconciliation", "portal:finance:reconciliation", "finance-reconciliation"),
    ("Showback", "portal:finance:showback", "finance-showback"),
    ("FOCUS export", "portal:finance:exports", "finance-exports"),
    ("Audit trail", "portal:finance:audit", "finance-audit"),
)


def finance_nav(request: HttpRequest) -> dict[str, object]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not request.path.startswith("/portal/"):
        return {}
    # The page's decorator has already looked the roles up (tenant_view: is_finance; finance_view:
    # finance_roles); ask the database only for a page that has neither.
    known = getattr(request, "is_finance", None)
    if known is None and hasattr(request, "finance_roles"):
        known = bool(request.finance_roles)
    if not (known if known is not None else user_is_finance(user=user)):
        return {}
    items = []
    for label, name, section in AREAS:
        try:
            items.append({"label": label, "url": reverse(name), "section": section})
        except NoReverseMatch:
            continue
    return {"finance_nav": items, "is_finance_user": True}
