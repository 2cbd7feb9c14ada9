"""Finance workspace: price lists (profiles), their versions, drafting and submitting (see
portal/finance/profiles/views.py)."""

from __future__ import annotations

from django.urls import URLPattern, path

from portal.finance.profiles import views

urlpatterns: list[URLPattern] = [
    path("", views.profile_list, name="profiles"),
    path("<int:profile_id>/", views.profile_detail, name="profile"),
    path("<int:profile_id>/new/", views.version_new, name="version-new"),
    path("versions/<int:version_id>/", views.version_detail, name="version"),
    path("versions/<int:version_id>/edit/", views.version_edit, name="version-edit"),
    path("versions/<int:version_id>/diff/", views.version_diff, name="version-diff"),
    path("versions/<int:version_id>/submit/", views.version_submit, name="version-submit"),
]
