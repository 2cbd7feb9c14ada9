"""Finance workspace: audit pages (see portal/finance/__init__.py)."""

from __future__ import annotations

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
