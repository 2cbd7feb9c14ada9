"""Finance workspace: rollouts pages (see portal/finance/__init__.py and rollouts/views.py)."""

from __future__ import annotations

from django.urls import URLPattern, path

from portal.finance.rollouts import views

urlpatterns: list[URLPattern] = [
    path("", views.rollout_list, name="rollouts"),
    path("<int:rollout_id>/", views.rollout_detail, name="rollout"),
    path("<int:rollout_id>/promote/", views.rollout_promote_view, name="rollout-promote"),
    path("<int:rollout_id>/rollback/", views.rollout_rollback_view, name="rollout-rollback"),
    path("<int:rollout_id>/check/", views.rollout_check_view, name="rollout-check"),
    path("new/<int:version_id>/", views.rollout_new, name="rollout-new"),
]
