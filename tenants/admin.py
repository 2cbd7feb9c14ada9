"""Admin for tenants, projects, memberships and API keys. API keys are created and revoked through the
tenants services, so the secret is generated, hashed and shown once in one place."""

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import HttpRequest
from guardian.admin import GuardedModelAdmin
from simple_history.admin import SimpleHistoryAdmin

from .models import ApiKey, Membership, Project, Tenant
from .services import api_key_create, api_key_revoke, membership_groups_sync


@admin.register(Tenant)
class TenantAdmin(GuardedModelAdmin, SimpleHistoryAdmin):
    list_display = ("slug", "name", "country", "currency", "timezone", "status", "created_at")
    list_filter = ("status", "currency", "country")
    search_fields = ("slug", "name")


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin[Project]):
    list_display = ("tenant", "code", "name", "cost_center")
    list_filter = ("tenant",)
    search_fields = ("code", "name")


@admin.register(Membership)
class MembershipAdmin(SimpleHistoryAdmin):
    """A finance role edited here moves its user between the finance role groups at once."""

    list_display = ("user", "role", "tenant", "created_at")
    list_filter = ("role",)

    def save_model(self, request: HttpRequest, obj: Membership, form: Any, change: bool) -> None:
        previous = Membership.objects.filter(pk=obj.pk).values_list("user_id", flat=True).first()
        super().save_model(request, obj, form, change)
        for user in User.objects.filter(pk__in={obj.user_id, previous} - {None}):
            membership_groups_sync(user=user)

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        super().delete_model(request, obj)
        membership_groups_sync(user=obj.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Membership]) -> None:
        user_ids = set(queryset.values_list("user_id", flat=True))
        super().delete_queryset(request, queryset)
        for user in User.objects.filter(pk__in=user_ids):
            membership_groups_sync(user=user)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin[ApiKey]):
    """Keys are created here with the secret shown once in a message; the hash is never displayed."""

    list_display = ("prefix", "name", "scope", "tenant", "created_at", "last_used_at", "revoked_at")
    list_filter = ("scope", "revoked_at")
    fields = ("name", "tenant")
    readonly_fields = ()
    actions = ["revoke"]

    def has_change_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        issued = api_key_create(tenant=obj.tenant, name=obj.name, created_by=request.user)  # type: ignore[arg-type]
        obj.pk = issued.api_key.pk
        obj.__dict__.update(issued.api_key.__dict__)
        messages.warning(
            request, f"API key created. Copy it now, it will not be shown again: {issued.secret}"
        )

    @admin.action(description="Revoke selected keys")
    def revoke(self, request: HttpRequest, queryset: Any) -> None:
        for key in queryset:
            api_key_revoke(api_key=key)
        messages.success(request, f"Revoked {queryset.count()} key(s).")
