"""URLs of portal/finance/dashboards: the index and one page per dashboard."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from portal.finance.dashboards import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.index, name="dashboards"),
    path("executive/", views.executive, name="dashboard-executive"),
    path("on-call/", views.oncall, name="dashboard-oncall"),
    path("debug/", views.debug, name="dashboard-debug"),
]
