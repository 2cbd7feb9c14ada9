"""URLs of finance's FOCUS download (included by portal/finance/urls.py at exports/)."""

from __future__ import annotations

from django.urls import URLPattern, path

from portal.finance.exports import views

urlpatterns: list[URLPattern] = [
    path("", views.exports, name="exports"),
    path("focus/", views.exports_download, name="exports-download"),
]
