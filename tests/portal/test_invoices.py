"""The portal's invoice pages: the list and its filters, the detail (formatted figures), downloads, and
that another tenant's invoice, line or credit note is a 404 on every view."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client

from ledger.models import CreditNote, CreditNoteDocument, Invoice
from tests.factories.documents import Line, Vat, credit_note, invoice_rendered, persona_invoice
from tests.factories.ledger import document_invoice
from tests.personas import Persona

pytestmark = pytest.mark.django_db


def _note_document(note: CreditNote, pdf: bytes) -> None:
    name = default_storage.save(f"credit-notes/{note.pk}.pdf", ContentFile(pdf))
    xml = default_storage.save(f"credit-notes/{note.pk}.xml", ContentFile(b"<xml/>"))
    CreditNoteDocument.objects.create(
        credit_note=note,
        version=1,
        pdf_file=name,
        pdf_sha256=hashlib.sha256(pdf).hexdigest(),
        xml_file=xml,
        xml_sha256=hashlib.sha256(b"<xml/>").hexdigest(),
        rendered_at=datetime(2026, 12, 21, tzinfo=UTC),
    )


def test_it_lists_the_tenants_invoices_with_formatted_totals(alice: Persona, charlie: Persona):
    persona_invoice(alice)
    persona_invoice(charlie, number="OTHER-2026-000001")

    body = alice.client.get("/portal/invoices/").content.decode()

    assert "ACME-2026-000007" in body
    assert "€1,586.87" in body  # 1,333.50 + 253.37
    assert "1 Nov 2026 \u2013 30 Nov 2026" in body
    assert "OTHER-2026-000001" not in body


def test_it_filters_the_list_by_status(alice: Persona):
    persona_invoice(alice)
    assert alice.tenant is not None
    document_invoice(alice.tenant, lines=[{"amount": "5.00"}], status=Invoice.Status.DRAFT)

    drafts = alice.client.get("/portal/invoices/", {"status": "draft"}).content.decode()
    issued = alice.client.get("/portal/invoices/", {"status": "finalized"}).content.decode()

    assert ("Draft for 2026-10" in drafts, "ACME-2026-000007" in drafts) == (True, False)
    assert ("Draft for 2026-10" in issued, "ACME-2026-000007" in issued) == (False, True)


def test_it_filters_the_list_by_period(alice: Persona):
    persona_invoice(alice)
    assert alice.tenant is not None
    document_invoice(alice.tenant, lines=[{"amount": "5.00"}], number="ACME-2026-000003")

    body = alice.client.get("/portal/invoices/", {"period": "2026-10"}).content.decode()

    assert ("ACME-2026-000003" in body, "ACME-2026-000007" in body) == (True, False)


def test_the_detail_shows_lines_vat_totals_and_dates_formatted(alice: Persona):
    invoice = persona_invoice(alice)

    body = alice.client.get(f"/portal/invoices/{invoice.pk}/").content.decode()

    for text in (
        "Invoice ACME-2026-000007",
        "4 Dec 2026",  # issue date
        "3 Jan 2027",  # due date
        "Net 30 days",
        "617,250",
        "€1,234.50",
        "€99.00",
        "€1,333.50",  # taxable amount
        "€253.37",
        "19%",
        "€1,586.87",
        "Example Billing GmbH",
    ):
        assert text in body, text
    assert "1234.5000" not in body


def test_the_detail_shows_tier_sub_rows(alice: Persona):
    assert alice.tenant is not None
    breakdown = [
        {"kind": "tier", "tier": 0, "lower": "0", "up_to": "1000", "units": "1000", "unit_amount": "0",
         "flat_amount": "0", "amount": "0"},
        {"kind": "tier", "tier": 1, "lower": "1000", "up_to": None, "units": "616250",
         "unit_amount": "0.002", "flat_amount": "2", "amount": "1234.50"},
    ]  # fmt: skip
    invoice = document_invoice(
        alice.tenant, lines=[{"amount": "1234.50", "quantity": "617250", "breakdown": breakdown}]
    )

    body = alice.client.get(f"/portal/invoices/{invoice.pk}/").content.decode()

    assert "Tier 1,000 and above: 616,250 \u00d7 €0.002 + flat €2.00" in body


def test_the_detail_shows_corrections_billed_before_repriced_and_difference(alice: Persona):
    assert alice.tenant is not None
    october = document_invoice(alice.tenant, lines=[{"amount": "100.00"}], number="ACME-2026-000001")
    invoice = document_invoice(
        alice.tenant,
        lines=[
            {
                "kind": "correction",
                "description": "Corrections to ACME-2026-000001 (2026-10): API requests",
                "amount": "12.00",
                "billed_before": "100.00",
                "repriced": "112.00",
                "corrects_invoice": october,
                "corrects_period": "2026-10",
            }
        ],
        period_start=datetime(2026, 11, 1, tzinfo=UTC),
        period_end=datetime(2026, 12, 1, tzinfo=UTC),
    )

    body = alice.client.get(f"/portal/invoices/{invoice.pk}/").content.decode()

    assert "Billed before" in body
    assert ("€100.00" in body, "€112.00" in body, "€12.00" in body) == (True, True, True)
    assert f'<a href="/portal/invoices/{october.pk}/">ACME-2026-000001</a>' in body


def test_the_detail_lists_credit_notes_with_download_links(alice: Persona):
    invoice = persona_invoice(alice)
    note = credit_note(invoice, [Line("Goodwill", "10.00")], [Vat("S", "19", "10.00", "1.90")])

    body = alice.client.get(f"/portal/invoices/{invoice.pk}/").content.decode()

    assert "ACME-CN-2026-000001" in body
    assert "€11.90" in body
    assert f"/portal/invoices/credit-notes/{note.pk}/document/pdf/" in body


def test_it_serves_the_pdf_as_an_attachment(alice: Persona, media: Path):
    invoice = persona_invoice(alice)
    invoice_rendered(invoice, pdf=b"%PDF-1.7 test")

    response = alice.client.get(f"/portal/invoices/{invoice.pk}/document/pdf/")

    assert response.status_code == 200
    assert response.content == b"%PDF-1.7 test"
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="ACME-2026-000007.pdf"'


def test_it_serves_the_xml_as_an_attachment(alice: Persona, media: Path):
    invoice = persona_invoice(alice)
    invoice_rendered(invoice, pdf=b"%PDF-1.7 test")

    response = alice.client.get(f"/portal/invoices/{invoice.pk}/document/xml/")

    assert (response.status_code, response.content, response["Content-Type"]) == (
        200,
        b"<rsm:CrossIndustryInvoice/>",
        "application/xml",
    )


def test_a_document_not_rendered_yet_is_404(alice: Persona, media: Path):
    invoice = persona_invoice(alice)
    assert alice.client.get(f"/portal/invoices/{invoice.pk}/document/pdf/").status_code == 404
    assert alice.client.get(f"/portal/invoices/{invoice.pk}/document/exe/").status_code == 404


def test_it_serves_a_credit_notes_pdf(alice: Persona, media: Path):
    invoice = persona_invoice(alice)
    note = credit_note(invoice, [Line("Goodwill", "10.00")], [Vat("S", "19", "10.00", "1.90")])
    _note_document(note, b"%PDF-1.7 note")

    response = alice.client.get(f"/portal/invoices/credit-notes/{note.pk}/document/pdf/")

    assert (response.status_code, response.content, response["Content-Disposition"]) == (
        200,
        b"%PDF-1.7 note",
        'attachment; filename="ACME-CN-2026-000001.pdf"',
    )


def _tenant_urls(invoice: Invoice, note: CreditNote) -> list[str]:
    line = invoice.lines.order_by("position").first()
    assert line is not None
    base = f"/portal/invoices/{invoice.pk}"
    return [
        f"{base}/",
        f"{base}/document/pdf/",
        f"{base}/lines/{line.pk}/",
        f"{base}/lines/{line.pk}/csv/",
        f"/portal/invoices/credit-notes/{note.pk}/document/pdf/",
    ]


def test_another_tenants_invoice_line_and_credit_note_are_404(alice: Persona, charlie: Persona, media: Path):
    invoice = persona_invoice(alice)
    invoice_rendered(invoice, pdf=b"%PDF-1.7 secret")
    note = credit_note(invoice, [Line("Goodwill", "10.00")], [Vat("S", "19", "10.00", "1.90")])
    _note_document(note, b"%PDF-1.7 note")

    answers = {url: charlie.client.get(url).status_code for url in _tenant_urls(invoice, note)}
    answers[f"share {invoice.pk}"] = charlie.client.post(
        f"/portal/invoices/{invoice.pk}/share/", {"days": "7"}
    ).status_code

    assert answers == dict.fromkeys(answers, 404)


def test_an_anonymous_visitor_is_sent_to_the_login_page(alice: Persona, media: Path):
    invoice = persona_invoice(alice)
    note = credit_note(invoice, [Line("Goodwill", "10.00")], [Vat("S", "19", "10.00", "1.90")])
    client = Client()

    answers = {url: client.get(url) for url in ["/portal/invoices/", *_tenant_urls(invoice, note)]}

    assert {url: (r.status_code, r["Location"].split("?")[0]) for url, r in answers.items()} == dict.fromkeys(
        answers, (302, "/portal/login/")
    )


def test_the_detail_links_to_disputing_the_invoice_and_each_line(alice: Persona):
    invoice = persona_invoice(alice)
    line = invoice.lines.get(position=1)

    body = alice.client.get(f"/portal/invoices/{invoice.pk}/").content.decode()

    assert f'href="/portal/disputes/open/{invoice.pk}/"' in body
    assert f'href="/portal/disputes/open/{invoice.pk}/{line.pk}/"' in body


def test_an_anonymous_visitor_cannot_share_or_revoke(alice: Persona):
    invoice = persona_invoice(alice)
    client = Client()

    shared = client.post(f"/portal/invoices/{invoice.pk}/share/", {"days": "7"})
    revoked = client.post(f"/portal/invoices/{invoice.pk}/share/1/revoke/")

    assert (shared.status_code, revoked.status_code) == (302, 302)
    assert shared["Location"].startswith("/portal/login/")
