"""Finance's minimal side of disputes in the admin (the full workflow belongs to the governance work): a
read-only list and change page with the timeline, and on the change page three decisions, each calling
its service (ledger/services/disputes.py): take under review, reject with a reason, resolve with a credit
note of an amount on the disputed line or on the whole invoice. Finance users see disputes; editors and
approvers decide (the services check it again)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_POST

from common.errors import ApplicationError
from ledger.models import Dispute, DisputeEvent
from ledger.services.disputes import dispute_reject, dispute_resolve, dispute_review, dispute_user_may_decide
from tenants.selectors import user_is_finance


class DisputeEventInline(admin.TabularInline[DisputeEvent, Dispute]):
    model = DisputeEvent
    extra = 0
    can_delete = False
    fields = ("created_at", "kind", "actor", "by_finance", "message")
    readonly_fields = fields
    ordering = ("created_at", "id")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return user_is_finance(user=request.user) or super().has_view_permission(request, obj)


class DisputeAdmin(admin.ModelAdmin[Dispute]):
    list_display = ("__str__", "tenant", "invoice", "line", "reason", "status", "created_at", "decided_at")
    list_filter = ("status", "reason")
    list_select_related = ("tenant", "invoice", "line")
    search_fields = ("invoice__number", "tenant__slug")
    inlines = [DisputeEventInline]
    change_form_template = "admin/ledger/dispute/change_form.html"

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # decisions go through the services (decide_view), never through the form

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return user_is_finance(user=request.user) or super().has_view_permission(request, obj)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return user_is_finance(user=request.user) or super().has_module_permission(request)

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "<path:object_id>/decide/",
                self.admin_site.admin_view(self.decide_view),
                name="ledger_dispute_decide",
            )
        ]
        return own + super().get_urls()

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        obj = self.get_object(request, unquote(object_id))
        extra = dict(extra_context or {})
        if obj is not None:
            extra["may_decide"] = obj.is_open and dispute_user_may_decide(user=request.user)
            extra["decide_url"] = reverse("admin:ledger_dispute_decide", args=[obj.pk])
            extra["dispute"] = obj
        return super().change_view(request, object_id, form_url, extra)

    @staticmethod
    def _amount(text: str) -> Decimal | None:
        try:
            return Decimal(text.strip())
        except (InvalidOperation, ValueError):
            return None

    def decide_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return require_POST(self._decide)(request, object_id)

    def _decide(self, request: HttpRequest, object_id: str) -> HttpResponse:
        dispute = self.get_object(request, unquote(object_id))
        if dispute is None or not self.has_view_permission(request, dispute):
            raise Http404("no such dispute")
        if not dispute_user_may_decide(user=request.user):
            raise PermissionDenied
        action = request.POST.get("action", "")
        back = HttpResponseRedirect(reverse("admin:ledger_dispute_change", args=[dispute.pk]))
        try:
            if action == "review":
                dispute_review(dispute=dispute, user=request.user)
                done = "Taken under review."
            elif action == "reject":
                dispute_reject(dispute=dispute, reason=request.POST.get("reason", ""), user=request.user)
                done = "Rejected."
            elif action == "resolve":
                amount = self._amount(request.POST.get("amount", ""))
                if amount is None:
                    self.message_user(request, "Enter the amount to credit, e.g. 12.50.", messages.ERROR)
                    return back
                resolved = dispute_resolve(
                    dispute=dispute,
                    amount=amount,
                    note=request.POST.get("note", ""),
                    whole_invoice=request.POST.get("on") == "invoice",
                    user=request.user,
                )
                done = f"Resolved with credit note {resolved.credit_note.number if resolved.credit_note else ''}."
            else:
                self.message_user(request, "Choose a decision.", messages.ERROR)
                return back
        except ApplicationError as err:
            self.message_user(request, err.message, messages.ERROR)
            return back
        self.message_user(request, done, messages.SUCCESS)
        return back


__all__ = ["DisputeAdmin"]
