"""URLs of the customer's FOCUS download (included by portal/urls.py at exports/)."""

from __future__ import annotations

from django.urls import URLPattern, path

from portal.exports import views

urlpatterns: list[URLPattern] = [
    path("", views.exports, name="exports"),
    path("focus/", views.exports_download, name="exports-download"),
]
