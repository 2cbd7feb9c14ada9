"""Every invoice and credit note the demo produces is a valid EN 16931 e-invoice: the demo seeded
(`seed_demo`), a month and a half of usage at 3 events per tenant per day (`demo_usage --events-per-day
3`, the smaller configuration the command offers, instead of its default 120), October closed
(`close_period`), the corrections story (`demo_story`: a correction credit note), one invoice voided and
one partly credited (the engine's credit notes); then each document's XML is checked against the
official XSD and our rules, and each is rendered and recorded."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from ledger.einvoice.xml_writer import credit_note_xml, invoice_xml
from ledger.models import Alert, CreditNote, CreditNoteDocument, Invoice
from ledger.services import documents
from ledger.services.credit_notes import credit_note_create
from ledger.services.documents import document_problems, invoice_mark_pdf_dirty
from ledger.services.invoicing import invoice_void
from tests.factories.usage import usage_env

__all__ = ["usage_env"]

pytestmark = pytest.mark.usefixtures("usage_env")


def test_every_demo_invoice_and_credit_note_is_a_valid_e_invoice():
    call_command("seed_demo", stdout=StringIO())
    call_command("demo_usage", "--events-per-day", "3", stdout=StringIO(), stderr=StringIO())
    call_command("demo_story", stdout=StringIO())  # September closed, late usage: corrections, a credit note
    try:
        call_command("close_period", "--period", "2026-10", "--no-progress", stdout=StringIO())
    except CommandError as err:  # tenants the close blocks have no document to check; the others do
        if err.returncode != 1:
            raise
    invoices = list(Invoice.objects.filter(status="finalized").select_related("tenant").order_by("id"))
    assert len(invoices) >= 3
    invoice_void(invoice=invoices[0], reason="demo: issued to the wrong entity")
    line = invoices[1].lines.filter(amount__gt=0).order_by("position").first()
    assert line is not None
    credit_note_create(
        invoice=invoices[1],
        reason="demo: goodwill",
        lines=[(line.pk, (line.amount / 2).quantize(Decimal(1)))],
    )
    invoices = list(
        Invoice.objects.exclude(status__in=Invoice.EDITABLE).select_related("tenant").order_by("id")
    )
    notes = list(CreditNote.objects.select_related("tenant").order_by("id"))
    assert {note.kind for note in notes} == {"void", "manual", "correction"}
    # the close and the credit notes store their VAT breakdown: the XML states it, nothing is derived
    assert all(invoice.tax_breakdown.exists() for invoice in invoices if invoice.lines.exists())
    assert all(note.tax_breakdown.exists() for note in notes)

    problems = {invoice.number: document_problems(invoice_xml(invoice)) for invoice in invoices}
    problems |= {note.number: document_problems(credit_note_xml(note)) for note in notes}

    assert problems == {number: [] for number in problems}
    for invoice in invoices:
        invoice_mark_pdf_dirty(invoice=invoice)
        rendered = documents.invoice_render_pdf(invoice_id=invoice.pk)
        assert rendered is not None
        assert rendered.xml_sha256
    for note in notes:
        assert documents.credit_note_render_pdf(credit_note_id=note.pk) is not None
    assert CreditNoteDocument.objects.count() == len(notes)
    assert not Alert.objects.filter(kind=Alert.Kind.PDF).exists()
