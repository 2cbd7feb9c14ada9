"""The printed documents (invoice and credit note HTML/PDF) as a reader sees them: parties, local dates,
due date and terms, per-line quantity and unit price, tier sub-rows, corrections, the VAT breakdown and
money laid out for the tenant's locale."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from ledger.models import Invoice
from ledger.pdf import credit_note_context, credit_note_html, html_to_pdf
from tenants.models import Tenant
from tests.factories.ledger import document_credit_note, document_invoice
from tests.factories.tenants import TenantFactory

pytestmark = pytest.mark.django_db

NBSP = "\xa0"
D = Decimal


def _tenant(**fields: Any) -> Tenant:
    defaults: dict[str, Any] = {
        "slug": "acme",
        "name": "Acme Corp",
        "country": "DE",
        "tax_jurisdiction": "DE",
        "currency": "EUR",
        "address": "Hauptstrasse 5\n80331 München",
        "vat_id": "DE123456789",
    }
    return TenantFactory.create(**{**defaults, **fields})


def _vat(taxable: str, tax: str, rate: str = "19", category: str = "S", **extra: Any) -> dict[str, Any]:
    return {
        "category": category,
        "rate": D(rate),
        "taxable_amount": D(taxable),
        "tax_amount": D(tax),
        **extra,
    }


def _credited_invoice(tenant: Tenant) -> Invoice:
    return document_invoice(
        tenant,
        number="ACME-2026-000010",
        lines=[
            {
                "description": "API calls",
                "quantity": D("1000"),
                "unit_label": "call",
                "unit_price": D("0.10"),
                "amount": D("100.00"),
                "tax_rate": D("19"),
            },
        ],
        breakdown=[_vat("100.00", "19.00")],
        issue_date=date(2026, 11, 5),
        due_date=date(2026, 12, 5),
        payment_terms_days=30,
        buyer_vat_id="DE123456789",
        seller_vat_id="DE000000000",
    )


def test_it_titles_a_credit_note_and_names_the_invoice_it_credits():
    invoice = _credited_invoice(_tenant())
    note = document_credit_note(
        invoice,
        number="ACME-CN-2026-000001",
        reason="goodwill after the outage",
        lines=[{"description": "API calls", "amount": D("30.00"), "tax_amount": D("5.70")}],
        breakdown=[_vat("30.00", "5.70")],
    )

    html = credit_note_html(note)

    assert "<h1>Credit note ACME-CN-2026-000001</h1>" in html
    assert "credits invoice ACME-2026-000010 of 5 Nov 2026" in html
    assert "goodwill after the outage" in html
    assert "Issued by finance" in html
    assert '<td class="num">19%</td><td class="num">€30.00</td><td class="num">€5.70</td>' in html
    assert 'Total credited</td><td class="num">€35.70</td>' in html


def test_it_shows_a_correction_credit_notes_billed_before_repriced_and_difference():
    invoice = _credited_invoice(_tenant())
    note = document_credit_note(
        invoice,
        kind="correction",
        reason="late usage re-priced the period lower",
        lines=[
            {
                "description": "API calls (tier position re-priced)",
                "quantity": D("-200"),
                "unit_label": "call",
                "billed_before": D("100.00"),
                "repriced": D("80.00"),
                "amount": D("20.00"),
                "tax_amount": D("3.80"),
            },
        ],
        breakdown=[_vat("20.00", "3.80")],
    )

    html = credit_note_html(note)

    assert "Correction of the period (re-priced lower)" in html
    assert (
        '<td class="num">-200 call</td>\n        <td class="num">€100.00</td>\n'
        '        <td class="num">€80.00</td>\n        <td class="num">-€20.00</td>'
    ) in html


def test_the_credit_note_context_takes_two_queries(django_assert_num_queries):
    invoice = _credited_invoice(_tenant())
    note = document_credit_note(
        invoice, lines=[{"description": "x", "amount": D("10.00")}], breakdown=[_vat("10.00", "1.90")]
    )
    from ledger.models import CreditNote

    note = CreditNote.objects.select_related("invoice", "tenant").get(pk=note.pk)
    with django_assert_num_queries(2):
        context = credit_note_context(note)
    assert [line["description"] for line in context["lines"]] == ["x"]


def test_a_credit_note_renders_to_a_pdf():
    invoice = _credited_invoice(_tenant())
    note = document_credit_note(
        invoice, lines=[{"description": "x", "amount": D("10.00")}], breakdown=[_vat("10.00", "1.90")]
    )
    assert html_to_pdf(credit_note_html(note)).startswith(b"%PDF")
