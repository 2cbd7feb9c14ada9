"""Rendering and storing invoice PDFs (called by the Celery task in ledger.tasks)."""

from __future__ import annotations

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from ledger.models import Invoice
from ledger.pdf import html_to_pdf, invoice_html, sha256_hex


def invoice_render_pdf(*, invoice_id: int) -> Invoice | None:
    """Render the invoice's PDF if its dirty counter (`pdf_version`) is ahead of the rendered one. The
    HTML is built and rendered outside any lock; the result is recorded by one conditional UPDATE
    (`... WHERE pdf_rendered_version < version`), so it is recorded only if nobody recorded this or a
    newer version meanwhile (the row lock the UPDATE takes serializes concurrent renders; on
    PostgreSQL the condition is re-checked against the row a concurrent render committed)."""
    try:
        invoice = Invoice.objects.select_related("tenant").get(pk=invoice_id)
    except Invoice.DoesNotExist:
        return None
    if not invoice.is_issued or invoice.pdf_rendered_version >= invoice.pdf_version:
        return invoice
    version = invoice.pdf_version
    pdf = html_to_pdf(invoice_html(invoice))
    digest = sha256_hex(pdf)  # of the bytes stored below, never re-read
    name = default_storage.save(
        f"invoices/{invoice.tenant.slug}/{invoice.number}-v{version}.pdf", ContentFile(pdf)
    )
    recorded = Invoice.objects.filter(pk=invoice_id, pdf_rendered_version__lt=version).update(
        pdf_file=name, pdf_sha256=digest, pdf_rendered_version=version
    )
    if not recorded:  # a concurrent render recorded this or a newer version first: keep its file
        default_storage.delete(name)
        invoice.refresh_from_db(fields=_PDF_FIELDS)
        return invoice
    invoice.pdf_file, invoice.pdf_sha256, invoice.pdf_rendered_version = name, digest, version
    return invoice


_PDF_FIELDS = ["pdf_version", "pdf_rendered_version", "pdf_file", "pdf_sha256"]


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
