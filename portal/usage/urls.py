"""URLs of the portal's usage pages (included by portal/urls.py at usage/)."""

from __future__ import annotations

from django.urls import URLPattern, path

from portal.usage import views

urlpatterns: list[URLPattern] = [
    path("", views.usage, name="usage"),
    path("history/", views.usage_history_page, name="usage-history"),
]
