"""URLs of portal/finance/alerts: every alert (filters, groups, acknowledge, resolve) and dead letters."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from portal.finance.alerts import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.alert_list, name="alerts"),
    path("<int:alert_id>/acknowledge/", views.alert_acknowledge_view, name="alert-acknowledge"),
    path("<int:alert_id>/resolve/", views.alert_resolve_view, name="alert-resolve"),
    path("deliveries/", views.dead_deliveries, name="alerts-dead-deliveries"),
]
