"""Rendered e-invoices: the PDF is a PDF/A-3 embedding the XML that is stored beside it, both recorded
with their SHA-256 in one update; a document failing its checks is alerted and not recorded; credit notes
get a document row; staff download both files from the admin."""

from __future__ import annotations

import hashlib
from io import BytesIO
from typing import Any

import facturx
import pytest
from django.core.files.storage import default_storage
from django.db import IntegrityError, connection
from pypdf import PdfReader

from ledger.einvoice import xml_writer
from ledger.models import Alert, CreditNoteDocument, Invoice
from ledger.selectors import credit_note_document, invoice_document
from ledger.services import documents
from ledger.services.documents import invoice_mark_pdf_dirty
from ledger.tasks import pdf_sweep
from tenants.models import Role
from tests.factories.documents import Line, Spec, Vat, credit_note, issued_invoice, tenant
from tests.factories.tenants import finance_user
from tests.ledger.test_einvoice_xml import THREE_LINES

pytestmark = pytest.mark.django_db


def _read(name: str) -> bytes:
    with default_storage.open(name, "rb") as fh:
        data: bytes = fh.read()
    return data


def _rendered(spec: Spec = THREE_LINES, **kwargs: Any) -> Invoice:
    invoice = issued_invoice(spec, **kwargs)
    invoice_mark_pdf_dirty(invoice=invoice)
    rendered = documents.invoice_render_pdf(invoice_id=invoice.pk)
    assert rendered is not None
    return rendered


def test_the_pdf_is_pdf_a_3_embedding_the_stored_xml_and_both_digests_are_recorded():
    invoice = _rendered()
    invoice.refresh_from_db()

    pdf, xml = _read(invoice.pdf_file), _read(invoice.xml_file)

    # the storage appends a suffix to a name already taken (by an earlier test's file)
    assert invoice.pdf_file.startswith("invoices/acme/ACME-2026-000001-v1")
    assert invoice.pdf_file.endswith(".pdf")
    assert invoice.xml_file.startswith("invoices/acme/ACME-2026-000001-v1")
    assert invoice.xml_file.endswith(".xml")
    assert (invoice.pdf_sha256, invoice.xml_sha256) == (
        hashlib.sha256(pdf).hexdigest(),
        hashlib.sha256(xml).hexdigest(),
    )
    filename, embedded = facturx.get_xml_from_pdf(pdf, check_xsd=True)
    assert (filename, embedded) == ("factur-x.xml", xml)
    catalog: Any = PdfReader(BytesIO(pdf)).trailer["/Root"]
    metadata = catalog["/Metadata"].get_object().get_data()
    assert b"<pdfaid:part>3</pdfaid:part>" in metadata
    assert b"<pdfaid:conformance>B</pdfaid:conformance>" in metadata
    assert b"EN 16931" in metadata


def test_a_document_failing_its_checks_is_alerted_and_not_recorded(monkeypatch):
    invoice = issued_invoice(THREE_LINES)
    invoice_mark_pdf_dirty(invoice=invoice)
    real = xml_writer.invoice_xml

    def tampered(inv: Invoice) -> bytes:
        return real(inv).replace(b"<ram:CalculatedAmount>28.95<", b"<ram:CalculatedAmount>28.96<")

    monkeypatch.setattr(documents, "invoice_xml", tampered)

    documents.invoice_render_pdf(invoice_id=invoice.pk)

    invoice.refresh_from_db()
    assert (invoice.pdf_rendered_version, invoice.pdf_file, invoice.xml_file) == (0, "", "")
    alert = Alert.objects.get(kind=Alert.Kind.PDF)
    assert alert.tenant_id == invoice.tenant_id
    assert alert.message.startswith("ACME-2026-000001: e-invoice not issued, it fails its checks: BR-CO-17: ")
    assert "BR-CO-14: tax total 28.95 is not the breakdown's 28.96" in alert.message
    assert documents.invoices_needing_pdf() == [invoice.pk]  # the sweep tries again


def test_a_document_failing_the_xsd_is_alerted_and_not_recorded(monkeypatch):
    invoice = issued_invoice(THREE_LINES)
    invoice_mark_pdf_dirty(invoice=invoice)
    real = xml_writer.invoice_xml
    monkeypatch.setattr(
        documents, "invoice_xml", lambda inv: real(inv).replace(b"<ram:TypeCode>380", b"<ram:Typecode>380")
    )

    documents.invoice_render_pdf(invoice_id=invoice.pk)

    invoice.refresh_from_db()
    assert invoice.pdf_rendered_version == 0
    assert "XSD: " in Alert.objects.get(kind=Alert.Kind.PDF).message


def _sql(statement: str, params: list[Any]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def test_the_guard_refuses_a_render_recorded_without_its_xml():
    invoice = issued_invoice(THREE_LINES)
    invoice_mark_pdf_dirty(invoice=invoice)

    with pytest.raises(IntegrityError, match="a recorded render names its PDF and XML files"):
        _sql(
            "UPDATE ledger_invoice SET pdf_rendered_version = 1, pdf_file = 'a.pdf', pdf_sha256 = %s WHERE id = %s",
            ["a" * 64, invoice.pk],
        )


def test_the_guard_refuses_a_render_recorded_with_an_xml_digest_that_is_not_hex():
    invoice = issued_invoice(THREE_LINES)
    invoice_mark_pdf_dirty(invoice=invoice)

    with pytest.raises(IntegrityError, match="a recorded render names its PDF and XML files"):
        _sql(
            "UPDATE ledger_invoice SET pdf_rendered_version = 1, pdf_file = 'a.pdf', pdf_sha256 = %s, "
            "xml_file = 'a.xml', xml_sha256 = 'not-a-digest' WHERE id = %s",
            ["a" * 64, invoice.pk],
        )


def test_a_credit_note_gets_one_document_row_and_a_second_render_returns_it():
    invoice = issued_invoice(THREE_LINES)
    note = credit_note(invoice, [Line("API requests", "20.00")], [Vat("S", "19", "20.00", "3.80")])

    first = documents.credit_note_render_pdf(credit_note_id=note.pk)
    again = documents.credit_note_render_pdf(credit_note_id=note.pk)

    assert first is not None
    assert again == first
    assert CreditNoteDocument.objects.filter(credit_note=note).count() == 1
    pdf, xml = _read(first.pdf_file), _read(first.xml_file)
    assert first.xml_file.startswith("credit-notes/acme/ACME-CN-2026-000001-v1")
    assert first.xml_file.endswith(".xml")
    assert (first.version, first.pdf_sha256, first.xml_sha256) == (
        1,
        hashlib.sha256(pdf).hexdigest(),
        hashlib.sha256(xml).hexdigest(),
    )
    assert facturx.get_xml_from_pdf(pdf, check_xsd=True)[1] == xml
    assert b"<ram:TypeCode>381</ram:TypeCode>" in xml


def test_credit_note_renders_are_published_after_commit_and_swept_when_missing(
    monkeypatch, django_capture_on_commit_callbacks
):
    from celery import current_app

    published: list[tuple[str, tuple[int, ...]]] = []
    for name in (documents.PDF_RENDER_TASK, documents.CREDIT_NOTE_RENDER_TASK):
        task = current_app.tasks[name]
        monkeypatch.setattr(
            task, "apply_async", lambda args=(), _name=name, **kwargs: published.append((_name, tuple(args)))
        )
    invoice = issued_invoice(THREE_LINES)
    note = credit_note(invoice, [Line("API requests", "20.00")], [Vat("S", "19", "20.00", "3.80")])

    with django_capture_on_commit_callbacks(execute=True):
        documents.credit_note_pdf_enqueue([note.pk])
        assert published == []
    assert published == [(documents.CREDIT_NOTE_RENDER_TASK, (note.pk,))]

    published.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert pdf_sweep() == 1
    assert published == [(documents.CREDIT_NOTE_RENDER_TASK, (note.pk,))]
    documents.credit_note_render_pdf(credit_note_id=note.pk)
    assert documents.credit_notes_needing_pdf() == []


def test_the_selector_finds_a_document_of_the_tenant_only():
    invoice = _rendered()
    other = tenant("globex", name="Globex")

    found = invoice_document(tenant=invoice.tenant, invoice_id=invoice.pk, kind="xml")

    assert found is not None
    assert (found.name, found.sha256, found.filename, found.content_type) == (
        invoice.xml_file,
        invoice.xml_sha256,
        "ACME-2026-000001.xml",
        "application/xml",
    )
    assert invoice_document(tenant=other, invoice_id=invoice.pk, kind="xml") is None
    assert invoice_document(tenant=invoice.tenant, invoice_id=invoice.pk, kind="html") is None


def test_the_selector_finds_nothing_before_the_render():
    invoice = issued_invoice(THREE_LINES)
    note = credit_note(invoice, [Line("API requests", "20.00")], [Vat("S", "19", "20.00", "3.80")])

    assert invoice_document(tenant=invoice.tenant, invoice_id=invoice.pk, kind="pdf") is None
    assert credit_note_document(tenant=invoice.tenant, credit_note_id=note.pk, kind="pdf") is None


# --- admin downloads ---------------------------------------------------------------------------------


def _url(model: str, pk: int, kind: str) -> str:
    return f"/admin/ledger/{model}/{pk}/document/{kind}/"


def test_staff_download_the_pdf_and_the_xml_of_an_invoice(staff):
    invoice = _rendered()

    pdf = staff.client.get(_url("invoice", invoice.pk, "pdf"))
    xml = staff.client.get(_url("invoice", invoice.pk, "xml"))

    assert pdf.status_code == xml.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    assert xml["Content-Type"] == "application/xml"
    assert pdf["Content-Disposition"] == 'attachment; filename="ACME-2026-000001.pdf"'
    assert xml["Content-Disposition"] == 'attachment; filename="ACME-2026-000001.xml"'
    assert hashlib.sha256(pdf.getvalue()).hexdigest() == invoice.pdf_sha256
    assert hashlib.sha256(xml.getvalue()).hexdigest() == invoice.xml_sha256


def test_the_change_pages_link_the_downloads(staff):
    invoice = _rendered()
    note = credit_note(invoice, [Line("API requests", "20.00")], [Vat("S", "19", "20.00", "3.80")])
    documents.credit_note_render_pdf(credit_note_id=note.pk)

    invoice_page = staff.client.get(f"/admin/ledger/invoice/{invoice.pk}/change/").content.decode()
    note_page = staff.client.get(f"/admin/ledger/creditnote/{note.pk}/change/").content.decode()

    assert f'<a href="{_url("invoice", invoice.pk, "pdf")}">PDF</a>' in invoice_page
    assert f'<a href="{_url("invoice", invoice.pk, "xml")}">XML (Factur-X)</a>' in invoice_page
    assert f'<a href="{_url("creditnote", note.pk, "xml")}">XML (Factur-X)</a>' in note_page


def test_a_finance_viewer_downloads_a_credit_notes_xml():
    invoice = issued_invoice(THREE_LINES)
    note = credit_note(invoice, [Line("API requests", "20.00")], [Vat("S", "19", "20.00", "3.80")])
    document = documents.credit_note_render_pdf(credit_note_id=note.pk)
    assert document is not None
    viewer = finance_user(Role.FINANCE_VIEWER, username="viewer")
    from django.test import Client

    client = Client()
    client.force_login(viewer)
    response = client.get(_url("creditnote", note.pk, "xml"))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/xml"
    assert response["Content-Disposition"] == 'attachment; filename="ACME-CN-2026-000001.xml"'
    assert hashlib.sha256(response.getvalue()).hexdigest() == document.xml_sha256


def test_a_document_not_rendered_yet_is_404(staff):
    invoice = issued_invoice(THREE_LINES)

    assert staff.client.get(_url("invoice", invoice.pk, "pdf")).status_code == 404
    assert staff.client.get(_url("invoice", invoice.pk + 1000, "pdf")).status_code == 404
    assert staff.client.get(_url("invoice", invoice.pk, "html")).status_code == 404


def test_a_customer_is_sent_to_the_admin_login(alice):
    invoice = _rendered()

    response = alice.client.get(_url("invoice", invoice.pk, "pdf"))

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_staff_without_the_view_permission_get_403():
    from django.contrib.auth.models import User
    from django.test import Client

    invoice = _rendered()
    clerk = User.objects.create_user(username="clerk", is_staff=True)
    client = Client()
    client.force_login(clerk)

    assert client.get(_url("invoice", invoice.pk, "pdf")).status_code == 403
