"""Admin for the ledger: everything read-only (the database refuses edits of issued documents and of
the journal anyway); invoices can be voided or marked paid through actions that call the services."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from common.errors import ApplicationError
from ledger.admin_disputes import DisputeAdmin
from ledger.admin_documents import DocumentDownloadsMixin
from ledger.admin_money import money_column
from ledger.models import (
    Account,
    Alert,
    CreditConsumption,
    CreditExpiry,
    CreditGrant,
    CreditNote,
    CreditRestoration,
    Dispute,
    Invoice,
    InvoiceLine,
    Posting,
    Transaction,
)
from ledger.services.invoicing import invoice_mark_paid


class ReadOnlyAdmin(admin.ModelAdmin[Any]):
    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class InvoiceLineInline(admin.TabularInline[InvoiceLine, Invoice]):
    model = InvoiceLine
    fk_name = "invoice"
    extra = 0
    can_delete = False
    fields = ("position", "kind", "description", "quantity", "amount_exact", "amount", "corrects_period")
    readonly_fields = fields


@admin.register(Invoice)
class InvoiceAdmin(DocumentDownloadsMixin, ReadOnlyAdmin):
    list_display = (
        "__str__",
        "tenant",
        "period_key",
        "status",
        "currency",
        "total_display",
        "amount_due_display",
        "finalized_at",
    )
    list_select_related = ("tenant",)
    total_display = money_column("total", description="Total")
    amount_due_display = money_column("amount_due", description="Amount due")
    list_filter = ("status", "currency")
    search_fields = ("number", "tenant__slug")
    inlines = [InvoiceLineInline]
    actions = ["mark_paid"]

    @admin.action(description="Mark selected finalized invoices as paid", permissions=["change"])
    def mark_paid(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> None:
        for invoice in queryset:
            try:
                invoice_mark_paid(invoice=invoice)
            except ApplicationError as err:
                self.message_user(request, f"{invoice}: {err.message}", messages.WARNING)


class PostingInline(admin.TabularInline[Posting, Transaction]):
    model = Posting
    extra = 0
    can_delete = False
    fields = ("account", "amount", "currency", "original_amount", "original_currency")
    readonly_fields = fields


@admin.register(Transaction)
class TransactionAdmin(ReadOnlyAdmin):
    list_display = ("seq", "kind", "tenant", "reference", "booked_at", "hash")
    list_filter = ("kind",)
    search_fields = ("reference", "hash")
    inlines = [PostingInline]


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ("code", "name", "kind", "tenant")
    list_filter = ("kind",)
    search_fields = ("code",)


@admin.register(CreditNote)
class CreditNoteAdmin(DocumentDownloadsMixin, ReadOnlyAdmin):
    list_display = ("number", "invoice", "kind", "total_display", "currency", "created_at")
    list_select_related = ("invoice", "tenant")
    total_display = money_column("total", description="Total")
    search_fields = ("number", "invoice__number")


@admin.register(CreditGrant)
class CreditGrantAdmin(ReadOnlyAdmin):
    list_display = ("tenant", "amount_display", "currency", "expires_at", "priority", "reason")
    list_select_related = ("tenant",)
    amount_display = money_column("amount", description="Amount")


@admin.register(CreditConsumption)
class CreditConsumptionAdmin(ReadOnlyAdmin):
    list_display = ("grant", "invoice", "amount_display", "created_at")
    list_select_related = ("grant__tenant", "invoice")
    amount_display = money_column(
        "amount", description="Amount", currency="grant__currency", tenant="grant__tenant"
    )


@admin.register(CreditRestoration)
class CreditRestorationAdmin(ReadOnlyAdmin):
    list_display = ("consumption", "amount", "created_at")


@admin.register(CreditExpiry)
class CreditExpiryAdmin(ReadOnlyAdmin):
    list_display = ("grant", "amount", "expired_at", "restoration", "created_at", "ledger_transaction")
    list_filter = ("expired_at",)


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    list_display = (
        "kind",
        "state",
        "severity",
        "tenant",
        "invoice",
        "message",
        "occurrences",
        "created_at",
        "resolved_at",
    )
    list_filter = ("state", "kind", "severity")


admin.site.register(Dispute, DisputeAdmin)
