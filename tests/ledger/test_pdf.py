"""Invoice PDFs: rendered by a task after commit, stored with their SHA-256, re-rendered when dirty."""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.files.storage import default_storage

import ledger.pdf
from billing.close.services import close_period
from ledger.models import Invoice
from ledger.pdf import html_to_pdf, invoice_context, invoice_html
from ledger.services import documents
from ledger.services.credit_notes import credit_note_create
from ledger.services.credits import credit_grant_create
from ledger.services.documents import invoice_mark_pdf_dirty, invoices_needing_pdf
from tests.factories.ledger import after_grace, invoice_of, tax_rule, usage, world

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
            pdf_rendered_version=1,
            pdf_file="invoices/acme/other.pdf",
            pdf_sha256="a" * 64,
            xml_file="invoices/acme/other.xml",
            xml_sha256="b" * 64,
        )
        return html_to_pdf(html)

    monkeypatch.setattr(documents, "html_to_pdf", render_while_another_worker_records_version_1)
    files_before = _stored_files("invoices/acme")
    returned = documents.invoice_render_pdf(invoice_id=invoice.pk)

    invoice.refresh_from_db()
    assert (invoice.pdf_rendered_version, invoice.pdf_file, invoice.pdf_sha256, invoice.xml_file) == (
        1,
        "invoices/acme/other.pdf",
        "a" * 64,
        "invoices/acme/other.xml",
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


def test_the_html_names_the_invoice_a_correction_line_corrects():
    w = world()
    tax_rule("DE", "19")
    usage(w.tenant, "api_calls", w.version, datetime(2026, 10, 5, tzinfo=UTC), "1000")
    october = invoice_of(close_period(tenant=w.tenant, period_key="2026-10", now=after_grace("2026-10")))
    usage(w.tenant, "api_calls", w.version, datetime(2026, 10, 30, tzinfo=UTC), "200", late=True)
    november = invoice_of(close_period(tenant=w.tenant, period_key="2026-11", now=after_grace("2026-11")))

    html = invoice_html(november)

    assert f"<h2>Corrections to {october.number} (2026-10" in html


def test_the_html_shows_prepaid_credit_with_the_grants_reason():
    w = world()
    tax_rule("DE", "19")
    usage(w.tenant, "api_calls", w.version, datetime(2026, 11, 5, tzinfo=UTC), "1000")  # 119.00 due
    credit_grant_create(
        tenant=w.tenant,
        amount=Decimal("30.00"),
        currency="EUR",
        granted_at=datetime(2026, 10, 1, tzinfo=UTC),
        expires_at=None,
        reason="launch goodwill",
    )
    invoice = invoice_of(close_period(tenant=w.tenant, period_key="2026-11", now=after_grace()))

    html = invoice_html(invoice)

    assert 'Prepaid credit applied (launch goodwill)</td><td class="num">-€30.00</td>' in html


def test_the_html_lists_the_credit_notes_against_the_invoice():
    invoice = _close_without_pdf()
    note = credit_note_create(
        invoice=invoice,
        reason="goodwill",
        lines=[(invoice.lines.get().pk, Decimal("30.00"))],
        now=datetime(2026, 12, 20, tzinfo=UTC),
    )
    assert note is not None

    html = invoice_html(invoice)

    assert f"Credit notes: {note.number} (€35.70)" in html


def test_the_html_context_takes_four_queries_however_many_corrections(django_assert_num_queries):
    w = world()
    tax_rule("DE", "19")
    for month in (9, 10):
        usage(w.tenant, "api_calls", w.version, datetime(2026, month, 5, tzinfo=UTC), "1000")
        close_period(tenant=w.tenant, period_key=f"2026-{month:02d}", now=after_grace(f"2026-{month:02d}"))
    for month in (9, 10):  # late events of both closed months: two correction lines in November
        usage(w.tenant, "api_calls", w.version, datetime(2026, month, 28, tzinfo=UTC), "200", late=True)
    november = invoice_of(close_period(tenant=w.tenant, period_key="2026-11", now=after_grace("2026-11")))
    november = Invoice.objects.select_related("tenant").get(pk=november.pk)
    assert november.lines.filter(kind="correction").count() == 2

    with django_assert_num_queries(4):  # lines, VAT breakdown, credit uses, credit notes
        context = invoice_context(november)

    assert [line["corrects_period"] for line in context["corrections"]] == ["2026-09", "2026-10"]


def test_the_render_runs_in_a_thread_of_its_own(monkeypatch):
    seen: list[str] = []

    def render(html: str) -> bytes:
        seen.append(threading.current_thread().name)
        return html.encode()

    monkeypatch.setattr(ledger.pdf, "_render", render)
    assert html_to_pdf("<p>x</p>") == b"<p>x</p>"
    assert len(seen) == 1
    assert seen[0].startswith("pdf-render")
    assert seen[0] != threading.current_thread().name


def test_a_failing_render_raises_in_the_caller(monkeypatch):
    def render(html: str) -> bytes:
        raise ValueError("layout failed")

    monkeypatch.setattr(ledger.pdf, "_render", render)
    with pytest.raises(ValueError, match="layout failed"):
        html_to_pdf("<p>x</p>")
