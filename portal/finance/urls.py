"""Finance's workspace under /portal/finance/ (namespace portal:finance). Each area owns its URL module."""

from __future__ import annotations

from django.urls import include, path

from portal.finance import views

app_name = "finance"

urlpatterns = [
    path("", views.home, name="home"),
    path("profiles/", include("portal.finance.profiles.urls")),
    path("approvals/", include("portal.finance.approvals.urls")),
    path("rollouts/", include("portal.finance.rollouts.urls")),
    path("queue/", include("portal.finance.queue.urls")),
    path("audit/", include("portal.finance.audit.urls")),
    path("dashboards/", include("portal.finance.dashboards.urls")),
    path("alerts/", include("portal.finance.alerts.urls")),
    path("exports/", include("portal.finance.exports.urls")),
    path("reconciliation/", include("portal.finance.reconciliation.urls")),
    path("showback/", include("portal.finance.showback.urls")),
]
