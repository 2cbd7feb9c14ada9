"""URLs of portal/finance/reconciliation: the runs, running a period, a run's deltas, a delta's rows."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from portal.finance.reconciliation import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.run_list, name="reconciliation"),
    path("run/", views.run_start, name="reconciliation-start"),
    path("<int:run_id>/", views.run_detail, name="reconciliation-run"),
    path("<int:run_id>/deltas/<int:delta_id>/", views.delta_detail, name="reconciliation-delta"),
]
