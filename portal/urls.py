"""The customer portal's URLs (server-rendered pages under /portal/)."""

from __future__ import annotations

from django.urls import include, path

from portal import views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("switch/", views.switch_tenant, name="switch-tenant"),
    path("sessions/", views.sessions, name="sessions"),
    path("invoices/", include("portal.invoices.urls")),
    path("usage/", include("portal.usage.urls")),
    path("disputes/", include("portal.disputes.urls")),
    path("notifications/", include("portal.notifications.urls")),
    path("budgets/", include("portal.budgets.urls")),
    path("exports/", include("portal.exports.urls")),
    path("finance/", include("portal.finance.urls")),
]
