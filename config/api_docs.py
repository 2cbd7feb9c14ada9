"""Who may read the OpenAPI schema and its UI (/api/schema/, /api/docs/): everyone when the setting
API_DOCS_PUBLIC is on (development's default), else staff only (production's default). Read at each
request, so the setting can change without reloading drf-spectacular's views."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.permissions import BasePermission
from rest_framework.request import Request


class ApiDocsAccess(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        if settings.API_DOCS_PUBLIC:
            return True
        user = request.user
        return bool(user is not None and user.is_authenticated and user.is_staff)
