"""URLs of portal/finance/showback: the report page and its CSV."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from portal.finance.showback import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.showback_page, name="showback"),
    path("export.csv", views.showback_csv, name="showback-csv"),
]
