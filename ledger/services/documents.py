"""Invoice PDFs: enqueueing their render (`pdf_enqueue`, the one way any service or task asks for one),
rendering and storing them (`invoice_render_pdf`, run by the Celery task), and finding the invoices
whose PDF lags behind their dirty counter (for the `ledger.pdf_sweep` beat task).

A render is asked for by bumping the invoice's `pdf_version` in the same transaction that changes it;
the task is published after commit. A lost publish (broker down) loses nothing: the sweep finds the
invoice by its counter and enqueues it again."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from celery import current_app
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F
from prometheus_client import Counter

from ledger.models import Invoice
from ledger.pdf import html_to_pdf, invoice_html, sha256_hex

logger = logging.getLogger(__name__)

# The render task's registered name (ledger.tasks): services publish it by name and never import the
# task module, which imports them.
PDF_RENDER_TASK = "ledger.invoice_render_pdf"

PDF_ENQUEUE_FAILURES = Counter(
    "ledger_pdf_enqueue_failures_total",
    "Invoice PDF renders that could not be enqueued (ledger.pdf_sweep enqueues them later)",
)


def pdf_enqueue(invoice_ids: Iterable[int], *, on_issue: bool = False) -> None:
    """Publish one render task per invoice once the current transaction commits (at once outside one;
    nothing if it rolls back). Never raises: a publish that fails (broker down) is logged and counted,
    and the invoices stay due for `ledger.pdf_sweep`. `on_issue`: the render that follows finalizing or
    voiding, skipped when settings.INVOICE_PDF_ON_FINALIZE is off (the sweep still renders)."""
    if on_issue and not getattr(settings, "INVOICE_PDF_ON_FINALIZE", True):
        return
    ids = list(invoice_ids)
    if ids:
        transaction.on_commit(lambda: _publish(ids))


def _publish(invoice_ids: list[int]) -> None:
    for position, invoice_id in enumerate(invoice_ids):
        try:
            current_app.tasks[PDF_RENDER_TASK].apply_async(args=(invoice_id,))
        # After commit nothing may raise into the committed caller, and kombu raises many types.
        except Exception:
            left = invoice_ids[position:]  # the broker is down: do not wait on it once per invoice
            PDF_ENQUEUE_FAILURES.inc(len(left))
            logger.warning(
                "PDF render not enqueued for invoices %s (broker unavailable?); ledger.pdf_sweep enqueues them later",
                left,
                exc_info=True,
            )
            return


def invoice_render_pdf(*, invoice_id: int) -> Invoice | None:
    """Render the invoice's PDF if its dirty counter (`pdf_version`) is ahead of the rendered one. The
    HTML is built and rendered outside any lock; the result is recorded by one conditional UPDATE
    (`... WHERE pdf_rendered_version < version`), so it is recorded only if nobody recorded this or a
    newer version meanwhile (the row lock the UPDATE takes serializes concurrent renders, and the
    condition is re-checked against the row a concurrent render committed)."""
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
        pdf_enqueue([current.pk])


def invoices_needing_pdf(limit: int = 500) -> list[int]:
    """Issued invoices whose rendered PDF lags behind their dirty counter, at most `limit` of them."""
    return list(
        Invoice.objects.filter(
            status__in=[Invoice.Status.FINALIZED, Invoice.Status.PAID, Invoice.Status.VOID],
            pdf_rendered_version__lt=F("pdf_version"),
        ).values_list("pk", flat=True)[:limit]
    )
