"""URLs of portal/budgets: the tenant's budget and alert thresholds (docs/alerts-evaluation.md)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from portal.budgets import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.budgets, name="budgets"),
]
