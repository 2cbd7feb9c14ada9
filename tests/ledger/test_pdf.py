"""Invoice PDFs: rendered by a task after commit, stored with their SHA-256, re-rendered when dirty."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from django.core.files.storage import default_storage

from billing.services.close import close_period
from ledger.models import Invoice
from ledger.pdf import html_to_pdf, invoice_html
from ledger.services import documents
from ledger.services.documents import invoice_mark_pdf_dirty, invoices_needing_pdf
from tests.factories_ledger import after_grace, invoice_of, tax_rule, usage, world

pytestmark = pytest.mark.django_db


def _close(capture) -> Invoice:
    w = world()
    tax_rule("DE", "19")
    usage(w.tenant, "api_calls", w.version, datetime(2026, 11, 5, tzinfo=UTC), "1000")
    with capture(execute=True):
        result = close_period(tenant=w.tenant, period_key="2026-11", now=after_grace())
    return invoice_of(result)


def test_finalizing_renders_the_pdf_after_commit_and_records_its_sha256(django_capture_on_commit_callbacks):
    invoice = _close(django_capture_on_commit_callbacks)
    with default_storage.open(invoice.pdf_file, "rb") as fh:
        data = fh.read()
    assert data.startswith(b"%PDF")
    assert invoice.pdf_sha256 == hashlib.sha256(data).hexdigest()
    assert invoice.pdf_rendered_version == invoice.pdf_version == 1


def _close_without_pdf() -> Invoice:
    w = world()
    tax_rule("DE", "19")
    usage(w.tenant, "api_calls", w.version, datetime(2026, 11, 5, tzinfo=UTC), "1000")
    return invoice_of(close_period(tenant=w.tenant, period_key="2026-11", now=after_grace()))  # no hooks run


def test_finalization_does_not_wait_for_the_pdf():
    invoice = _close_without_pdf()
    assert (invoice.status, invoice.pdf_file, invoice.pdf_rendered_version) == ("finalized", "", 0)


def test_marking_dirty_re_renders(django_capture_on_commit_callbacks):
    invoice = _close(django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        invoice_mark_pdf_dirty(invoice=invoice)
    invoice.refresh_from_db()
    assert (invoice.pdf_version, invoice.pdf_rendered_version) == (2, 2)
    assert "ACME-2026-000001-v2" in invoice.pdf_file


def test_the_html_shows_number_lines_tax_and_totals(django_capture_on_commit_callbacks):
    invoice = _close(django_capture_on_commit_callbacks)
    html = invoice_html(invoice)
    for text in ("ACME-2026-000001", "Api Calls", "100.00", "19.00", "119.00", "EUR", "Example Billing GmbH"):
        assert text in html


def _stored_files(directory: str) -> set[str]:
    return set(default_storage.listdir(directory)[1]) if default_storage.exists(directory) else set()


def test_a_render_beaten_by_a_concurrent_one_keeps_the_recorded_pdf_and_deletes_its_own_file(monkeypatch):
    invoice = _close_without_pdf()

    def render_while_another_worker_records_version_1(html: str) -> bytes:
        Invoice.objects.filter(pk=invoice.pk).update(
            pdf_rendered_version=1, pdf_file="invoices/acme/other.pdf", pdf_sha256="a" * 64
        )
        return html_to_pdf(html)

    monkeypatch.setattr(documents, "html_to_pdf", render_while_another_worker_records_version_1)
    files_before = _stored_files("invoices/acme")
    returned = documents.invoice_render_pdf(invoice_id=invoice.pk)

    invoice.refresh_from_db()
    assert (invoice.pdf_rendered_version, invoice.pdf_file, invoice.pdf_sha256) == (
        1,
        "invoices/acme/other.pdf",
        "a" * 64,
    )
    assert returned is not None
    assert returned.pdf_sha256 == "a" * 64
    assert _stored_files("invoices/acme") == files_before


def test_a_render_overtaken_by_a_new_dirty_mark_records_its_version_and_stays_due(monkeypatch):
    invoice = _close_without_pdf()

    def render_while_the_invoice_is_marked_dirty_again(html: str) -> bytes:
        Invoice.objects.filter(pk=invoice.pk).update(pdf_version=2)
        return html_to_pdf(html)

    monkeypatch.setattr(documents, "html_to_pdf", render_while_the_invoice_is_marked_dirty_again)
    documents.invoice_render_pdf(invoice_id=invoice.pk)

    invoice.refresh_from_db()
    assert (invoice.pdf_version, invoice.pdf_rendered_version) == (2, 1)
    with default_storage.open(invoice.pdf_file, "rb") as fh:
        assert invoice.pdf_sha256 == hashlib.sha256(fh.read()).hexdigest()
    assert invoices_needing_pdf() == [invoice.pk]
