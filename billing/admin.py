from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from .models import BillingProfile, Meter, ProfileAssignment, ProfileVersion, Sku


@admin.register(Meter)
class MeterAdmin(admin.ModelAdmin[Meter]):
    list_display = ("code", "name", "unit", "aggregation", "allow_negative")
    search_fields = ("code", "name")


@admin.register(Sku)
class SkuAdmin(admin.ModelAdmin[Sku]):
    list_display = ("code", "name", "meter", "unit_label", "service_category", "active")
    list_filter = ("service_category", "active")
    search_fields = ("code", "name")


class ProfileVersionInline(admin.TabularInline[ProfileVersion, BillingProfile]):
    model = ProfileVersion
    extra = 0
    fields = ("number", "status", "effective_from", "author", "decided_by", "body_sha256")
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(BillingProfile)
class BillingProfileAdmin(SimpleHistoryAdmin):  # type: ignore[misc]
    list_display = ("code", "name", "created_at")
    search_fields = ("code", "name")
    inlines = [ProfileVersionInline]


@admin.register(ProfileVersion)
class ProfileVersionAdmin(admin.ModelAdmin[ProfileVersion]):
    """Versions are created and moved through their workflow by services (portal, `manage.py profiles`);
    here they are read-only once out of draft, and never deletable once out of draft."""

    list_display = ("profile", "number", "status", "effective_from", "author", "decided_by", "decided_at")
    list_filter = ("status", "profile")
    readonly_fields = (
        "profile", "number", "body", "body_sha256", "status", "author", "created_at", "submitted_at",
        "decided_by", "decided_at", "decision_note", "effective_from",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ProfileVersion | None = None) -> bool:
        return obj is not None and not obj.is_frozen and super().has_delete_permission(request, obj)


@admin.register(ProfileAssignment)
class ProfileAssignmentAdmin(SimpleHistoryAdmin):  # type: ignore[misc]
    list_display = ("tenant", "profile", "effective_from", "effective_to")
    list_filter = ("profile",)
    search_fields = ("tenant__slug",)
