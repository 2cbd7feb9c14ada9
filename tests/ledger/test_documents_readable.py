"""The printed documents (invoice and credit note HTML/PDF) as a reader sees them: parties, local dates,
due date and terms, per-line quantity and unit price, tier sub-rows, corrections, the VAT breakdown and
money laid out for the tenant's locale. The expected strings are what a reader sees, typography included
(en dash, multiplication sign, no-break spaces)."""

# ruff: noqa: RUF001

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from ledger.models import Invoice
from ledger.pdf import credit_note_context, credit_note_html, html_to_pdf, invoice_context, invoice_html
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


TOKYO_OCTOBER = {
    "period_start": datetime(2026, 9, 30, 15, tzinfo=UTC),
    "period_end": datetime(2026, 10, 31, 15, tzinfo=UTC),
}
TIERS = [
    {
        "kind": "tier",
        "tier": 0,
        "lower": "0",
        "up_to": "1000",
        "units": "1000",
        "unit_amount": "0",
        "flat_amount": "0",
        "amount": "0",
    },
    {
        "kind": "tier",
        "tier": 1,
        "lower": "1000",
        "up_to": "10000",
        "units": "500",
        "unit_amount": "0.002",
        "flat_amount": "5",
        "amount": "6",
    },
    {
        "kind": "tier",
        "tier": 2,
        "lower": "10000",
        "up_to": None,
        "units": "0",
        "unit_amount": "0.001",
        "flat_amount": "0",
        "amount": "0",
    },
]


def _october(tenant: Tenant, **fields: Any) -> Invoice:
    """A finalized October invoice of 126.00 EUR net: a per-unit line, a tiered line, a flat fee and a
    discount, 19 % VAT."""
    lines = fields.pop(
        "lines",
        [
            {
                "description": "Storage",
                "quantity": D("1000"),
                "unit_label": "GB-month",
                "unit_price": D("0.023"),
                "amount": D("23.00"),
            },
            {
                "description": "API calls (price list v2, effective 2026-10-01 to 2026-10-31)",
                "quantity": D("1500"),
                "unit_label": "call",
                "amount": D("6.00"),
                "breakdown": TIERS,
            },
            {
                "kind": "flat",
                "description": "Platform fee",
                "quantity": D("1"),
                "unit_label": "month",
                "unit_price": D("99.00"),
                "amount": D("99.00"),
            },
            {
                "kind": "discount",
                "description": "Launch 20 % on API calls",
                "discount_code": "launch20",
                "amount": D("-2.00"),
            },
        ],
    )
    defaults: dict[str, Any] = {
        "number": "ACME-2026-000010",
        "issue_date": date(2026, 11, 5),
        "payment_terms_days": 30,
        "seller_vat_id": "DE999999999",
        "buyer_vat_id": "FR12345678901",
        "buyer_country": "FR",
        "tax_rate": D("19"),
        **TOKYO_OCTOBER,
    }
    return document_invoice(
        tenant,
        lines=lines,
        breakdown=fields.pop("breakdown", [_vat("126.00", "23.94")]),
        **{**defaults, **fields},
    )


def test_it_prints_the_period_as_the_tenants_local_days():
    tenant = _tenant(timezone="Asia/Tokyo")

    html = invoice_html(_october(tenant))

    assert "Period: 1 Oct 2026 – 31 Oct 2026<br>" in html


def test_it_prefers_the_stored_local_period_days():
    invoice = _october(_tenant(), period_first_day=date(2026, 10, 1), period_last_day=date(2026, 10, 31))

    assert "Period: 1 Oct 2026 – 31 Oct 2026<br>" in invoice_html(invoice)


def test_it_prints_issue_date_due_date_thirty_days_later_and_the_terms():
    html = invoice_html(_october(_tenant()))

    assert "Issue date: 5 Nov 2026<br>" in html
    assert "Due date: 5 Dec 2026<br>" in html
    assert "Payment terms: Net 30 days<br>" in html


def test_it_prints_the_stored_due_date_and_terms():
    html = invoice_html(_october(_tenant(), payment_terms_days=14, due_date=date(2026, 11, 19)))

    assert "Due date: 19 Nov 2026<br>" in html
    assert "Payment terms: Net 14 days<br>" in html


def test_it_prints_both_parties_with_their_vat_ids_and_addresses():
    html = invoice_html(_october(_tenant()))

    assert "<strong>Example Billing GmbH</strong>" in html
    assert "VAT ID: DE999999999<br>" in html  # the seller's, as issued
    assert "<strong>Bill to: Acme Corp</strong>" in html
    assert "Hauptstrasse 5<br>80331 München<br>" in html
    assert "Country: FR<br>" in html
    assert "VAT ID: FR12345678901<br>" in html


def test_an_issued_invoice_without_a_buyer_vat_id_prints_none():
    html = invoice_html(_october(_tenant(), buyer_vat_id=""))

    assert "FR12345678901" not in html
    assert "DE123456789" not in html  # the tenant's current one is not what was issued


def test_every_line_shows_quantity_unit_and_unit_price():
    html = invoice_html(_october(_tenant()))

    assert (
        '<tr><td>Storage</td>\n        <td class="num">1,000</td><td>GB-month</td>\n'
        '        <td class="num">€0.023</td>\n        <td class="num">€23.00</td></tr>'
    ) in html
    assert '<td class="num">1</td><td>month</td>\n        <td class="num">€99.00</td>' in html


def test_a_tiered_line_shows_its_average_unit_price_and_its_tiers_as_sub_rows():
    html = invoice_html(_october(_tenant()))

    assert '<td class="num">1,500</td><td>call</td>\n        <td class="num">avg. €0.004</td>' in html
    assert (
        '<div class="tiers"><div>0 – 1,000: 1,000 × €0.00</div>'
        "<div>1,000 – 10,000: 500 × €0.002 + flat €5.00</div></div>"
    ) in html
    assert "10,000 and above" not in html  # a tier the quantity did not reach


def test_a_tiered_line_without_quantity_says_see_tiers():
    lines = [{"description": "API calls", "quantity": None, "amount": D("6.00"), "breakdown": TIERS}]

    html = invoice_html(_october(_tenant(), lines=lines, breakdown=[_vat("6.00", "1.14")]))

    assert '<td class="num">see tiers</td>' in html


def test_a_discount_line_shows_its_description_and_code():
    html = invoice_html(_october(_tenant()))

    assert '<tr><td>Launch 20 % on API calls <span class="muted">(launch20)</span></td>' in html
    assert '<td class="num">-€2.00</td></tr>' in html


def test_zero_lines_print_only_with_a_quantity():
    lines = [
        {
            "description": "Storage",
            "quantity": D("5"),
            "unit_label": "GB-month",
            "unit_price": D("0"),
            "amount": D("0"),
        },
        {"description": "API calls", "quantity": D("100"), "unit_price": D("1"), "amount": D("100.00")},
        {"kind": "discount", "description": "Expired promo on storage", "amount": D("0")},
        {"kind": "flat", "description": "Waived fee", "quantity": D("0"), "amount": D("0")},
    ]

    html = invoice_html(_october(_tenant(), lines=lines, breakdown=[_vat("100.00", "19.00")]))

    assert "<tr><td>Storage</td>" in html  # free units: counted, shown
    assert "Expired promo" not in html
    assert "Waived fee" not in html


def test_corrections_are_grouped_under_the_invoice_they_correct():
    tenant = _tenant()
    september = _october(
        tenant,
        number="ACME-2026-000009",
        period_start=datetime(2026, 9, 1, tzinfo=UTC),
        period_end=datetime(2026, 10, 1, tzinfo=UTC),
        issue_date=date(2026, 10, 5),
    )
    lines = [
        {"description": "Storage", "quantity": D("100"), "unit_price": D("1"), "amount": D("100.00")},
        {
            "kind": "correction",
            "description": "API calls (price list v2)",
            "quantity": D("200"),
            "unit_label": "call",
            "billed_before": D("100.00"),
            "repriced": D("120.00"),
            "amount": D("20.00"),
            "corrects_invoice": september,
            "corrects_period": "2026-09",
        },
        {
            "kind": "correction",
            "description": "Launch 20 % on API calls",
            "quantity": None,
            "billed_before": D("-20.00"),
            "repriced": D("-24.00"),
            "amount": D("-4.00"),
            "corrects_invoice": september,
            "corrects_period": "2026-09",
        },
    ]

    html = invoice_html(_october(tenant, lines=lines, breakdown=[_vat("116.00", "22.04")]))

    assert "<h2>Corrections to ACME-2026-000009 (2026-09, issued 5 Oct 2026)</h2>" in html
    assert html.count("<h2>Corrections to") == 1
    assert (
        '<tr><td>API calls (price list v2)</td>\n        <td class="num">+200 call</td>\n'
        '        <td class="num">€100.00</td>\n        <td class="num">€120.00</td>\n'
        '        <td class="num">€20.00</td></tr>'
    ) in html
    assert '<td class="num">-€20.00</td>\n        <td class="num">-€24.00</td>\n' in html


def test_the_vat_breakdown_and_totals():
    html = invoice_html(_october(_tenant()))

    assert (
        '<tr><td>S (Standard rate)</td>\n        <td class="num">19%</td><td class="num">€126.00</td>'
        '<td class="num">€23.94</td></tr>'
    ) in html
    assert '<tr><td>Net</td><td class="num">€126.00</td></tr>' in html
    assert '<tr><td>VAT</td><td class="num">€23.94</td></tr>' in html
    assert '<tr class="grand"><td>Total</td><td class="num">€149.94</td></tr>' in html
    assert '<tr class="grand"><td>Amount due</td><td class="num">€149.94</td></tr>' in html
    assert "Rounding" not in html
    assert "VAT per rate = taxable amount × rate, rounded once (EN 16931 BR-CO-17)" in html
    assert "unrounded" not in html


def test_several_rates_print_a_row_each_and_a_vat_column():
    lines = [
        {
            "description": "Books",
            "quantity": D("1"),
            "unit_price": D("10"),
            "amount": D("10.00"),
            "tax_rate": D("7"),
        },
        {
            "description": "API calls",
            "quantity": D("1"),
            "unit_price": D("100"),
            "amount": D("100.00"),
            "tax_rate": D("19"),
        },
    ]
    breakdown = [_vat("100.00", "19.00"), _vat("10.00", "0.70", rate="7")]

    html = invoice_html(_october(_tenant(), lines=lines, breakdown=breakdown))

    assert '<td class="num">19%</td><td class="num">€100.00</td><td class="num">€19.00</td>' in html
    assert '<td class="num">7%</td><td class="num">€10.00</td><td class="num">€0.70</td>' in html
    assert '<th class="num">VAT</th>' in html
    assert '<tr><td>VAT</td><td class="num">€19.70</td></tr>' in html


def test_inclusive_prices_print_the_rounding_amount():
    lines = [{"description": "API calls", "quantity": D("1"), "unit_price": D("10"), "amount": D("10.00")}]
    breakdown = [_vat("8.40", "1.60")]  # 8.40 + 1.60 = 10.00; a rounding of 0.00 prints no row
    plain = invoice_html(_october(_tenant(), lines=lines, breakdown=breakdown, tax_mode="inclusive"))
    assert "Rounding" not in plain
    assert '<tr><td>Net (prices include VAT)</td><td class="num">€8.40</td></tr>' in plain

    lines = [{"description": "API calls", "quantity": D("3"), "unit_price": D("3.33"), "amount": D("9.99")}]
    rounded = _october(
        _tenant(slug="beta"),
        number="BETA-2026-000001",
        lines=lines,
        breakdown=[_vat("8.39", "1.59")],
        tax_mode="inclusive",
        rounding_amount=D("0.01"),
    )
    assert '<tr><td>Rounding</td><td class="num">€0.01</td></tr>' in invoice_html(rounded)


def test_the_reverse_charge_note_is_printed():
    note = "Reverse charge: VAT to be accounted for by the recipient (Art. 196 Directive 2006/112/EC)."
    invoice = _october(
        _tenant(),
        breakdown=[
            _vat(
                "126.00",
                "0.00",
                rate="0",
                category="AE",
                exemption_code="VATEX-EU-AE",
                exemption_reason="Reverse charge",
            )
        ],
        reverse_charge=True,
        tax_note=note,
    )

    html = invoice_html(invoice)

    assert '<tr><td>AE (Reverse charge): Reverse charge</td>\n        <td class="num">0%</td>' in html
    assert f'<p class="note">{note}</p>' in html


def test_a_jpy_invoice_prints_yen_without_decimals():
    tenant = _tenant(currency="JPY", locale="ja_JP", timezone="Asia/Tokyo")
    lines = [
        {
            "description": "API calls",
            "quantity": D("17500"),
            "unit_label": "call",
            "unit_price": D("1"),
            "amount": D("17500"),
        }
    ]

    html = invoice_html(_october(tenant, lines=lines, breakdown=[_vat("17500", "3325")]))

    # the yen sign in the form the document font has (U+00A5; CLDR's ja_JP sign U+FFE5 would be a box)
    assert '<tr class="grand"><td>Total</td><td class="num">¥20,825</td></tr>' in html
    assert '<td class="num">¥17,500</td><td class="num">¥3,325</td>' in html
    assert "\uffe5" not in html
    assert "Period: 2026/10/01 – 2026/10/31<br>" in html


def test_a_german_tenant_reads_german_number_and_date_formats():
    tenant = _tenant(locale="de_DE")
    lines = [
        {
            "description": "API calls",
            "quantity": D("12345"),
            "unit_label": "call",
            "unit_price": D("0.1"),
            "amount": D("1234.50"),
        }
    ]

    html = invoice_html(_october(tenant, lines=lines, breakdown=[_vat("1234.50", "234.56")]))

    assert f'<td class="num">1.234,50{NBSP}€</td><td class="num">234,56{NBSP}€</td>' in html
    assert f'<td class="num">12.345</td><td>call</td>\n        <td class="num">0,10{NBSP}€</td>' in html
    assert "Issue date: 05.11.2026<br>" in html
    assert f'<td class="num">19{NBSP}%</td>' in html


def test_an_unknown_locale_prints_english():
    html = invoice_html(_october(_tenant(locale="xx_YY")))

    assert '<tr class="grand"><td>Total</td><td class="num">€149.94</td></tr>' in html


def test_prepaid_credit_is_printed_as_a_deduction():
    from ledger.models import CreditConsumption

    invoice = _october(_tenant(), credits_applied=D("30.00"))
    assert not CreditConsumption.objects.filter(invoice=invoice).exists()

    html = invoice_html(invoice)

    assert '<tr class="grand"><td>Amount due</td><td class="num">€119.94</td></tr>' in html


def test_a_draft_prints_the_preview_banner_and_no_issue_or_due_date():
    html = invoice_html(_october(_tenant(), status="draft", issue_date=None, number=None, buyer_vat_id=""))

    assert '<p class="status">PREVIEW, not an invoice</p>' in html
    assert "Issue date" not in html
    assert "Due date" not in html
    assert "VAT ID: DE123456789<br>" in html  # a preview shows the tenant's current VAT ID


def test_the_invoice_context_takes_four_queries(django_assert_num_queries):
    invoice = Invoice.objects.select_related("tenant").get(pk=_october(_tenant()).pk)

    with django_assert_num_queries(4):
        context = invoice_context(invoice)

    assert [line["description"] for line in context["charges"]] == [
        "Storage",
        "API calls (price list v2, effective 2026-10-01 to 2026-10-31)",
        "Platform fee",
    ]


def test_an_invoice_renders_to_a_pdf():
    pdf = html_to_pdf(invoice_html(_october(_tenant(timezone="Asia/Tokyo"))))

    assert pdf.startswith(b"%PDF")


def test_a_void_invoice_prints_the_void_banner():
    invoice = _october(_tenant())
    invoice.status, invoice.void_reason = (
        Invoice.Status.VOID,
        "issued twice",
    )  # as voiding leaves it (not saved)

    html = invoice_html(invoice)

    assert '<p class="status">VOID: issued twice</p>' in html
    assert "PREVIEW" not in html
