"""Finance workspace: the audit trail, filtered, and its CSV export (see portal/finance/audit/views.py)."""

from __future__ import annotations

from django.urls import URLPattern, path

from portal.finance.audit import views

urlpatterns: list[URLPattern] = [
    path("", views.audit_list, name="audit"),
    path("export.csv", views.audit_csv, name="audit-csv"),
]
