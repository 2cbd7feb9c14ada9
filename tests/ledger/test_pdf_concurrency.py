"""Concurrent renders of one invoice record one PDF (PostgreSQL: the conditional UPDATE's row lock)."""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime

import pytest
from django.core.files.storage import default_storage

from billing.close.services import close_period
from ledger.pdf import html_to_pdf
from ledger.services import documents
from tests.factories.ledger import after_grace, invoice_of, tax_rule, usage, world
from tests.threads import run_together

pytestmark = [pytest.mark.django_db(transaction=True)]


def _stored_files(directory: str) -> set[str]:
    return set(default_storage.listdir(directory)[1]) if default_storage.exists(directory) else set()


def test_four_concurrent_renders_of_one_version_leave_one_recorded_file(monkeypatch, settings):
    settings.INVOICE_PDF_ON_FINALIZE = False  # the four workers below are the only renders
    w = world(slug="race")
    tax_rule("DE", "19")
    usage(w.tenant, "api_calls", w.version, datetime(2026, 11, 5, tzinfo=UTC), "1000")
    invoice = invoice_of(close_period(tenant=w.tenant, period_key="2026-11", now=after_grace()))
    assert (invoice.pdf_version, invoice.pdf_rendered_version) == (1, 0)
    barrier = threading.Barrier(4)

    def render_once_all_four_are_rendering(html: str) -> bytes:
        barrier.wait(timeout=30)  # every worker passed the "needs a render" check before any records
        return html_to_pdf(html)

    monkeypatch.setattr(documents, "html_to_pdf", render_once_all_four_are_rendering)
    files_before = _stored_files("invoices/race")

    def render() -> str:
        rendered = documents.invoice_render_pdf(invoice_id=invoice.pk)
        assert rendered is not None
        return rendered.pdf_sha256

    returned, errors = run_together([render] * 4)

    assert errors == []
    invoice.refresh_from_db()
    assert invoice.pdf_rendered_version == 1
    assert _stored_files("invoices/race") - files_before == {
        invoice.pdf_file.rsplit("/", 1)[1],
        invoice.xml_file.rsplit("/", 1)[1],
    }
    with default_storage.open(invoice.pdf_file, "rb") as fh:
        assert hashlib.sha256(fh.read()).hexdigest() == invoice.pdf_sha256
    assert returned == [invoice.pdf_sha256] * 4
