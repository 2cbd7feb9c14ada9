"""Celery tasks of the ledger: thin wrappers that load by id and call one service. Services never import
this module; they publish the render task by its registered name (`documents.PDF_RENDER_TASK`)."""

from __future__ import annotations

from celery import shared_task

from ledger.alerts import tasks as alert_tasks  # noqa: F401  (registers the webhook delivery tasks)
from ledger.services import documents
from ledger.services.expiry import credits_expire as credits_expire_service


@shared_task(name=documents.PDF_RENDER_TASK, acks_late=True, max_retries=3, default_retry_delay=30)
def invoice_render_pdf(invoice_id: int) -> str:
    invoice = documents.invoice_render_pdf(invoice_id=invoice_id)
    return invoice.pdf_sha256 if invoice is not None else ""


@shared_task(name=documents.CREDIT_NOTE_RENDER_TASK, acks_late=True, max_retries=3, default_retry_delay=30)
def credit_note_render_pdf(credit_note_id: int) -> str:
    document = documents.credit_note_render_pdf(credit_note_id=credit_note_id)
    return document.pdf_sha256 if document is not None else ""


@shared_task(name="ledger.pdf_sweep")
def pdf_sweep() -> int:
    """Re-enqueue every issued invoice whose PDF lags behind its dirty counter and every credit note
    without a document (a lost publish, a failed render, a dirty mark)."""
    ids = documents.invoices_needing_pdf()
    documents.pdf_enqueue(ids)
    notes = documents.credit_notes_needing_pdf()
    documents.credit_note_pdf_enqueue(notes)
    return len(ids) + len(notes)


@shared_task(name="ledger.credits_expire")
def credits_expire() -> dict[str, int]:
    """Post the breakage of every prepaid credit grant expired by now (idempotent; beat runs it hourly)."""
    result = credits_expire_service()
    return {"expired": len(result.expired), "failures": len(result.failures)}
