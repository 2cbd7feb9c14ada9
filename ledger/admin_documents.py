"""Staff downloads of rendered documents in the admin: on an invoice's or credit note's change page,
links "PDF" and "XML (Factur-X)" to views that serve the stored files as attachments, for users with the
model's view permission (staff only: the admin's own login check comes first)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html_join

from ledger.models import CreditNote, Invoice
from ledger.selectors import StoredDocument, credit_note_document, invoice_document

LINKS = (("pdf", "PDF"), ("xml", "XML (Factur-X)"))


class DocumentDownloadsMixin(admin.ModelAdmin[Any]):
    """Adds the read-only field `documents` (the download links) and the download view."""

    def stored_document(self, obj: Any, kind: str) -> StoredDocument | None:
        if isinstance(obj, Invoice):
            return invoice_document(tenant=obj.tenant, invoice_id=obj.pk, kind=kind)
        if isinstance(obj, CreditNote):
            return credit_note_document(tenant=obj.tenant, credit_note_id=obj.pk, kind=kind)
        return None

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [*super().get_readonly_fields(request, obj), "documents"]

    @admin.display(description="Documents")
    def documents(self, obj: Any) -> str:
        if obj is None or obj.pk is None:
            return "-"
        meta = self.model._meta
        links = [
            (reverse(f"admin:{meta.app_label}_{meta.model_name}_document", args=[obj.pk, kind]), label)
            for kind, label in LINKS
            if self.stored_document(obj, kind) is not None
        ]
        if not links:
            return "not rendered yet"
        return format_html_join(" | ", '<a href="{}">{}</a>', links)

    def get_urls(self) -> list[URLPattern]:
        meta = self.model._meta
        own = [
            path(
                "<path:object_id>/document/<str:kind>/",
                self.admin_site.admin_view(self.document_download),
                name=f"{meta.app_label}_{meta.model_name}_document",
            )
        ]
        return own + super().get_urls()

    def document_download(self, request: HttpRequest, object_id: str, kind: str) -> FileResponse:
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404("no such document")
        if not self.has_view_permission(request, obj):
            raise PermissionDenied
        document = self.stored_document(obj, kind)
        if document is None:
            raise Http404("not rendered")
        return FileResponse(
            default_storage.open(document.name, "rb"),
            as_attachment=True,
            filename=document.filename,
            content_type=document.content_type,
        )


__all__ = ["DocumentDownloadsMixin"]
