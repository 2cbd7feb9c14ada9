"""Finance workspace: approval requests with their backtests (see portal/finance/approvals/views.py)."""

from __future__ import annotations

from django.urls import URLPattern, path

from portal.finance.approvals import views

urlpatterns: list[URLPattern] = [
    path("", views.approval_list, name="approvals"),
    path("<int:request_id>/", views.approval_detail, name="approval"),
    path("<int:request_id>/approve/", views.approval_grant_view, name="approval-grant"),
    path("<int:request_id>/reject/", views.approval_reject_view, name="approval-reject"),
    path("<int:request_id>/rerun/", views.approval_rerun, name="approval-rerun"),
]
