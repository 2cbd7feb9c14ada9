"""Admin for billing's catalog, profiles, usage, rating, tax rules and FX rates. Writes that carry rules
(the version workflow, re-attribution, signed FX rates) go through the services, so the rows they guard
are read-only here."""

from typing import Any, cast

from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from billing.governance.approvals import approval_grant
from billing.profiles.models import Approval, ApprovalRequest
from common.errors import ApplicationError
from ledger.audit.admin import AuditedAdmin

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
class BillingProfileAdmin(AuditedAdmin, SimpleHistoryAdmin):
    audit_name = "profile"
    list_display = ("code", "name", "created_at")
    search_fields = ("code", "name")
    inlines = [ProfileVersionInline]


@admin.register(ProfileVersion)
class ProfileVersionAdmin(AuditedAdmin, admin.ModelAdmin[ProfileVersion]):
    """Versions are created and moved through their workflow by the profile services (`manage.py profiles`);
    here they are read-only once out of draft, and never deletable once out of draft."""

    audit_name = "profile_version"

    list_display = ("profile", "number", "status", "effective_from", "author", "decided_by", "decided_at")
    list_filter = ("status", "profile")
    readonly_fields = (
        "profile",
        "number",
        "body",
        "body_sha256",
        "status",
        "author",
        "created_at",
        "submitted_at",
        "decided_by",
        "decided_at",
        "decision_note",
        "effective_from",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ProfileVersion | None = None) -> bool:
        return obj is not None and not obj.is_frozen and super().has_delete_permission(request, obj)


class ApprovalInline(admin.TabularInline[Approval, ApprovalRequest]):
    """Signed approvals: append-only (the database refuses any change)."""

    model = Approval
    extra = 0
    fields = ("approver", "approved_at", "signature", "note")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ApprovalRequest)
class ApprovalRequestAdmin(admin.ModelAdmin[ApprovalRequest]):
    """Read-only: the decision is the `approve` action, which goes through the service
    (billing.governance.approvals.approval_grant: role, four eyes, signature), one request at a time; the
    author of a version gets the service's refusal as an error message."""

    list_display = (
        "id",
        "version",
        "status",
        "requested_by",
        "created_at",
        "expires_at",
        "required_approvals",
    )
    list_filter = ("status",)
    readonly_fields = (
        "version",
        "requested_by",
        "created_at",
        "expires_at",
        "periods",
        "backtest",
        "backtest_hash",
        "required_approvals",
        "matched_rules",
        "status",
        "decided_at",
        "decision_note",
    )
    inlines = [ApprovalInline]
    actions = ["approve"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ApprovalRequest | None = None) -> bool:
        return False

    @admin.action(description="Approve (sign) the selected requests", permissions=["change"])
    def approve(self, request: HttpRequest, queryset: QuerySet[ApprovalRequest]) -> None:
        for item in queryset.order_by("pk"):
            try:
                approval_grant(request=item, approver=cast(User, request.user))
            except ApplicationError as err:
                self.message_user(request, f"request {item.pk}: {err.message}", level=messages.ERROR)
            else:
                item.refresh_from_db()
                self.message_user(request, f"request {item.pk}: approved by you ({item.status})")


@admin.register(ProfileAssignment)
class ProfileAssignmentAdmin(AuditedAdmin, SimpleHistoryAdmin):
    audit_name = "profile_assignment"
    list_display = ("tenant", "profile", "effective_from", "effective_to")
    list_filter = ("profile",)
    search_fields = ("tenant__slug",)


# --- Usage: quarantined events are visible here; re-attribution goes through the service. ------------
from django.db.models import QuerySet  # noqa: E402

from billing.usage.quarantine import usage_event_reattribute_from_codes  # noqa: E402

from .models import RatingBatch, UsageAggregate, UsageEvent  # noqa: E402


@admin.register(UsageEvent)
class UsageEventAdmin(admin.ModelAdmin[UsageEvent]):
    """Read-only: events are written by ingest and rating. Quarantined ones are filtered here and fixed by
    the re-attribute action once what was missing (SKU, project, tenant, profile version) exists."""

    list_display = (
        "event_id",
        "tenant",
        "tenant_slug",
        "sku_code",
        "project_code",
        "timestamp",
        "quantity",
        "status",
        "quarantine_reason",
        "late",
        "received_at",
        "rating_batch",
    )
    list_filter = ("status", "quarantine_reason", "late")
    search_fields = ("event_id", "tenant_slug", "sku_code", "project_code")
    date_hierarchy = "received_at"
    list_select_related = ("tenant",)
    actions = ["reattribute"]

    def get_readonly_fields(self, request: HttpRequest, obj: UsageEvent | None = None) -> list[str]:
        return [f.name for f in UsageEvent._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: UsageEvent | None = None) -> bool:
        return False

    @admin.action(
        description="Re-attribute selected quarantined events and send them to rating", permissions=["change"]
    )
    def reattribute(self, request: HttpRequest, queryset: QuerySet[UsageEvent]) -> None:
        done, failed = 0, []
        for event in queryset.filter(status=UsageEvent.Status.QUARANTINED):
            try:
                usage_event_reattribute_from_codes(event=event, actor=request.user)  # type: ignore[arg-type]
            except ApplicationError as err:
                failed.append(f"{event.event_id}: {'; '.join(i.message for i in err.issues) or err.message}")
            else:
                done += 1
        self.message_user(request, f"{done} event(s) re-attributed and queued for rating", messages.SUCCESS)
        for line in failed[:20]:
            self.message_user(request, line, messages.WARNING)


@admin.register(RatingBatch)
class RatingBatchAdmin(admin.ModelAdmin[RatingBatch]):
    """Rating progress (read-only): a backlog shows as old pending batches."""

    list_display = (
        "id",
        "status",
        "source",
        "event_count",
        "first_event_id",
        "last_event_id",
        "earliest_event_at",
        "latest_event_at",
        "created_at",
        "rated_at",
    )
    list_filter = ("status", "source")
    date_hierarchy = "created_at"

    def get_readonly_fields(self, request: HttpRequest, obj: RatingBatch | None = None) -> list[str]:
        return [f.name for f in RatingBatch._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: RatingBatch | None = None) -> bool:
        return False


@admin.register(UsageAggregate)
class UsageAggregateAdmin(admin.ModelAdmin[UsageAggregate]):
    list_display = ("tenant", "sku", "hour", "profile_version", "quantity", "event_count", "updated_at")
    list_filter = ("sku",)
    search_fields = ("tenant__slug",)
    date_hierarchy = "hour"

    def get_readonly_fields(self, request: HttpRequest, obj: UsageAggregate | None = None) -> list[str]:
        return [f.name for f in UsageAggregate._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: UsageAggregate | None = None) -> bool:
        return False


# --- Tax rules and exchange rates ------------------------------------------------------------------
from billing.close.fx import fx_verify  # noqa: E402

from .models import ExchangeRate, TaxRule  # noqa: E402


@admin.register(TaxRule)
class TaxRuleAdmin(AuditedAdmin, admin.ModelAdmin[TaxRule]):
    """Tax rules are written here only: each save and delete is audited (ledger.audit.admin)."""

    audit_name = "tax_rule"
    list_display = ("jurisdiction", "name", "rate", "effective_from", "effective_to")
    list_filter = ("jurisdiction",)


@admin.register(ExchangeRate)
class ExchangeRateAdmin(admin.ModelAdmin[ExchangeRate]):
    """Read-only: rates are created signed by `billing.close.fx.exchange_rate_create`."""

    list_display = ("date", "base", "quote", "rate", "source", "signature_ok")
    list_filter = ("base", "quote", "source")
    date_hierarchy = "date"

    @admin.display(boolean=True, description="signature verifies")
    def signature_ok(self, obj: ExchangeRate) -> bool:
        return fx_verify(obj)

    def get_readonly_fields(self, request: HttpRequest, obj: ExchangeRate | None = None) -> list[str]:
        return [f.name for f in ExchangeRate._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
