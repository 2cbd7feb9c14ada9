"""Rendering and storing invoice PDFs (called by the Celery task in ledger.tasks)."""

from __future__ import annotations

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from ledger.models import Invoice
from ledger.pdf import html_to_pdf, invoice_html, sha256_hex


def invoice_render_pdf(*, invoice_id: int) -> Invoice | None:
    """Render the invoice's PDF if its dirty counter (`pdf_version`) is ahead of the rendered one. The
    HTML is built and rendered outside any lock; the result is recorded only if nobody rendered a
    newer version meanwhile."""
    invoice = Invoice.objects.select_related("tenant").filter(pk=invoice_id).first()
    if invoice is None or not invoice.is_issued or invoice.pdf_rendered_version >= invoice.pdf_version:
        return invoice
    version = invoice.pdf_version
    pdf = html_to_pdf(invoice_html(invoice))
    name = default_storage.save(
        f"invoices/{invoice.tenant.slug}/{invoice.number}-v{version}.pdf", ContentFile(pdf)
    )
    with transaction.atomic():
        current = Invoice.objects.select_for_update().get(pk=invoice_id)
        if current.pdf_rendered_version >= version:
            default_storage.delete(name)
            return current
        current.pdf_file = name
        current.pdf_sha256 = sha256_hex(pdf)
        current.pdf_rendered_version = version
        current.save(update_fields=["pdf_file", "pdf_sha256", "pdf_rendered_version"])
    return current


def invoice_mark_pdf_dirty(*, invoice: Invoice) -> None:
    """Ask for a re-render (e.g. after the template or issuer details changed)."""
    with transaction.atomic():
        current = Invoice.objects.select_for_update().get(pk=invoice.pk)
        current.pdf_version += 1
        current.save(update_fields=["pdf_version"])
        invoice_id = current.pk
        transaction.on_commit(lambda: _enqueue(invoice_id))


def _enqueue(invoice_id: int) -> None:
    from ledger.tasks import invoice_render_pdf as task

    task.delay(invoice_id)


def invoices_needing_pdf(limit: int = 500) -> list[int]:
    from django.db.models import F

    return list(
        Invoice.objects.filter(
            status__in=[Invoice.Status.FINALIZED, Invoice.Status.PAID, Invoice.Status.VOID],
            pdf_rendered_version__lt=F("pdf_version"),
        ).values_list("pk", flat=True)[:limit]
    )
