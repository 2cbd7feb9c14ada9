"""Invoice and credit note documents: enqueueing their render (`pdf_enqueue` / `credit_note_pdf_enqueue`,
the one way any service or task asks for one), rendering and storing them (`invoice_render_pdf` /
`credit_note_render_pdf`, run by the Celery tasks), and finding the documents whose render is due (for
the `ledger.pdf_sweep` beat task).

A document is a PDF/A-3 with its EN 16931 XML (Factur-X CII, ledger.einvoice) embedded, and the same XML
stored beside it (`<number>-v<N>.pdf` / `.xml`), each with its SHA-256. The XML is checked before anything
is stored: against the official Factur-X EN 16931 XSD and by our business-rule checks
(ledger.einvoice.checks). A document that fails is not rendered: an alert of kind `pdf` names it and the
rules it breaks, and the sweep tries again (a fixed engine or data makes the next try pass).

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
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from common import metrics
from ledger.einvoice.checks import check_cii
from ledger.einvoice.pdfa import check_xsd, embed_xml
from ledger.einvoice.pdfa import html_to_pdfa as html_to_pdf
from ledger.einvoice.xml_writer import credit_note_xml, invoice_xml
from ledger.models import Alert, CreditNote, CreditNoteDocument, Invoice
from ledger.pdf import credit_note_html, invoice_html, sha256_hex
from ledger.services.alerts import alert_raise

logger = logging.getLogger(__name__)

# The render task's registered name (ledger.tasks): services publish it by name and never import the
# task module, which imports them.
PDF_RENDER_TASK = "ledger.invoice_render_pdf"
CREDIT_NOTE_RENDER_TASK = "ledger.credit_note_render_pdf"


def pdf_enqueue(invoice_ids: Iterable[int], *, on_issue: bool = False) -> None:
    """Publish one render task per invoice once the current transaction commits (at once outside one;
    nothing if it rolls back). Never raises: a publish that fails (broker down) is logged and counted,
    and the invoices stay due for `ledger.pdf_sweep`. `on_issue`: the render that follows finalizing or
    voiding, skipped when settings.INVOICE_PDF_ON_FINALIZE is off (the sweep still renders)."""
    if on_issue and not getattr(settings, "INVOICE_PDF_ON_FINALIZE", True):
        return
    ids = list(invoice_ids)
    if ids:
        transaction.on_commit(lambda: _publish(PDF_RENDER_TASK, ids, "invoices"))


def credit_note_pdf_enqueue(credit_note_ids: Iterable[int]) -> None:
    """As `pdf_enqueue`, for credit notes without a document (credit_note_create calls it)."""
    ids = list(credit_note_ids)
    if ids:
        transaction.on_commit(lambda: _publish(CREDIT_NOTE_RENDER_TASK, ids, "credit notes"))


def _publish(task_name: str, ids: list[int], what: str) -> None:
    for position, document_id in enumerate(ids):
        try:
            current_app.tasks[task_name].apply_async(args=(document_id,))
        # After commit nothing may raise into the committed caller, and kombu raises many types.
        except Exception:
            left = ids[position:]  # the broker is down: do not wait on it once per document
            metrics.PDF_ENQUEUE_FAILURES.inc(len(left))
            logger.warning(
                "PDF render not enqueued for %s %s (broker unavailable?); ledger.pdf_sweep enqueues them later",
                what,
                left,
                exc_info=True,
            )
            return


def document_problems(xml: bytes) -> list[str]:
    """Why the e-invoice may not be issued: the XSD's error, then every business rule it breaks."""
    problems = []
    xsd_error = check_xsd(xml)
    if xsd_error:
        problems.append(f"XSD: {xsd_error}")
    problems += [str(violation) for violation in check_cii(xml)]
    return problems


def _refused(*, document: str, tenant_id: int, number: str, problems: list[str]) -> None:
    metrics.DOCUMENT_FAILURES.labels(document=document).inc()
    alert_raise(
        kind=Alert.Kind.PDF,
        tenant_id=tenant_id,
        message=f"{number}: e-invoice not issued, it fails its checks: " + "; ".join(problems),
    )


def _store(base: str, pdf: bytes, xml: bytes) -> tuple[str, str]:
    """Both files saved (the storage may rename them on a clash); their stored names."""
    pdf_name = default_storage.save(f"{base}.pdf", ContentFile(pdf))
    xml_name = default_storage.save(f"{base}.xml", ContentFile(xml))
    return pdf_name, xml_name


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
    xml = invoice_xml(invoice)
    problems = document_problems(xml)
    if problems:
        _refused(
            document="invoice", tenant_id=invoice.tenant_id, number=str(invoice.number), problems=problems
        )
        return invoice
    pdf = embed_xml(html_to_pdf(invoice_html(invoice)), xml)
    digest, xml_digest = sha256_hex(pdf), sha256_hex(xml)  # of the bytes stored below, never re-read
    name, xml_name = _store(f"invoices/{invoice.tenant.slug}/{invoice.number}-v{version}", pdf, xml)
    recorded = Invoice.objects.filter(pk=invoice_id, pdf_rendered_version__lt=version).update(
        pdf_file=name,
        pdf_sha256=digest,
        xml_file=xml_name,
        xml_sha256=xml_digest,
        pdf_rendered_version=version,
    )
    if not recorded:  # a concurrent render recorded this or a newer version first: keep its files
        default_storage.delete(name)
        default_storage.delete(xml_name)
        invoice.refresh_from_db(fields=_PDF_FIELDS)
        return invoice
    invoice.pdf_file, invoice.pdf_sha256, invoice.pdf_rendered_version = name, digest, version
    invoice.xml_file, invoice.xml_sha256 = xml_name, xml_digest
    return invoice


_PDF_FIELDS = ["pdf_version", "pdf_rendered_version", "pdf_file", "pdf_sha256", "xml_file", "xml_sha256"]


def credit_note_render_pdf(*, credit_note_id: int) -> CreditNoteDocument | None:
    """Render a credit note's first document when it has none (credit notes are append-only: each render
    is a CreditNoteDocument row). Two concurrent renders: the row's unique (credit note, version) lets
    one insert win; the other deletes its files and returns the winner's row. None when the credit note
    does not exist or its XML fails its checks (alerted, as for invoices)."""
    note = CreditNote.objects.select_related("tenant").filter(pk=credit_note_id).first()
    if note is None:
        return None
    existing = CreditNoteDocument.objects.filter(credit_note_id=note.pk).order_by("-version").first()
    if existing is not None:
        return existing
    xml = credit_note_xml(note)
    problems = document_problems(xml)
    if problems:
        _refused(document="credit_note", tenant_id=note.tenant_id, number=note.number, problems=problems)
        return None
    pdf = embed_xml(html_to_pdf(credit_note_html(note)), xml)
    name, xml_name = _store(f"credit-notes/{note.tenant.slug}/{note.number}-v1", pdf, xml)
    try:
        with transaction.atomic():
            return CreditNoteDocument.objects.create(
                credit_note=note,
                version=1,
                pdf_file=name,
                pdf_sha256=sha256_hex(pdf),
                xml_file=xml_name,
                xml_sha256=sha256_hex(xml),
                rendered_at=timezone.now(),
            )
    except IntegrityError:  # a concurrent render recorded version 1 first: keep its files
        default_storage.delete(name)
        default_storage.delete(xml_name)
        return CreditNoteDocument.objects.filter(credit_note_id=note.pk, version=1).first()


def credit_notes_needing_pdf(limit: int = 500) -> list[int]:
    """Credit notes without a document, at most `limit` of them."""
    return list(
        CreditNote.objects.filter(documents__isnull=True).order_by("id").values_list("pk", flat=True)[:limit]
    )


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
