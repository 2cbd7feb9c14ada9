"""The EN 16931 (Factur-X CII) XML of stored invoices and credit notes: valid against the official
Factur-X EN 16931 XSD, passing our business-rule checks, with figures worked out by hand."""

from __future__ import annotations

from decimal import Decimal
from xml.etree import ElementTree as ET

import facturx
import pytest

from ledger.einvoice.checks import check_cii
from ledger.einvoice.cii import NS, allocate_largest_remainder, unit_code
from ledger.einvoice.xml_writer import credit_note_xml, invoice_xml
from tests.factories.documents import Line, Spec, Vat, credit_note, issued_invoice, tenant

pytestmark = pytest.mark.django_db
D = Decimal

THREE_LINES = Spec(
    lines=[
        Line("API requests", "25.00", quantity="12500", unit_price="0.002", unit_label="request"),
        Line("Object storage", "28.39", quantity="1234.5", unit_label="GB-month"),  # tiered: no unit price
        Line("Platform fee", "99.00", quantity="1", unit_price="99", unit_label="month", kind="flat"),
    ],
    vat=[Vat("S", "19", "152.39", "28.95")],  # 152.39 x 19 % = 28.9541 -> 28.95
    credits_applied="30.00",
)


def _root(xml: bytes) -> ET.Element:
    return ET.fromstring(xml)


def _texts(xml: bytes, path: str) -> list[str]:
    return [e.text or "" for e in _root(xml).iterfind(path, NS)]


def _one(xml: bytes, path: str) -> str:
    (text,) = _texts(xml, path)
    return text


TOTALS = ".//ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:"
LINE = "rsm:SupplyChainTradeTransaction/ram:IncludedSupplyChainTradeLineItem"
HEADER_TAX = "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax/ram:"


def _valid(xml: bytes) -> None:
    assert facturx.xml_check_xsd(xml, flavor="factur-x", level="en16931") is True
    assert check_cii(xml) == []


def test_it_builds_a_valid_en16931_invoice_with_the_figures_worked_by_hand():
    xml = invoice_xml(issued_invoice(THREE_LINES))

    _valid(xml)
    assert _one(
        xml, "rsm:ExchangedDocumentContext/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID"
    ) == ("urn:cen.eu:en16931:2017")
    assert _one(xml, "rsm:ExchangedDocument/ram:ID") == "ACME-2026-000001"
    assert _one(xml, "rsm:ExchangedDocument/ram:TypeCode") == "380"
    assert _one(xml, "rsm:ExchangedDocument/ram:IssueDateTime/udt:DateTimeString") == "20261204"
    assert _one(xml, ".//ram:SpecifiedTradePaymentTerms/ram:DueDateDateTime/udt:DateTimeString") == "20270103"
    assert _one(xml, ".//ram:SpecifiedTradePaymentTerms/ram:Description") == (
        "Payable within 30 days of the issue date, by 2027-01-03."
    )
    assert _texts(xml, ".//ram:BillingSpecifiedPeriod/*/udt:DateTimeString") == ["20261101", "20261130"]
    assert _one(xml, ".//ram:InvoiceCurrencyCode") == "EUR"
    assert _one(xml, ".//ram:SellerTradeParty/ram:Name") == "Example Billing GmbH"
    assert _one(xml, ".//ram:SellerTradeParty/ram:SpecifiedTaxRegistration/ram:ID") == "DE123456789"
    assert _one(xml, ".//ram:SellerTradeParty/ram:PostalTradeAddress/ram:CountryID") == "DE"
    assert _one(xml, ".//ram:BuyerTradeParty/ram:Name") == "Acme Analytics GmbH"
    assert _texts(xml, ".//ram:BuyerTradeParty/ram:PostalTradeAddress/*") == [
        "Hauptstrasse 5",
        "80331 Muenchen",
        "Germany",
        "DE",
    ]
    # lines: an exact unit price is stated as such; a tiered line is its amount per its quantity
    assert _texts(xml, f"{LINE}/ram:SpecifiedTradeProduct/ram:Name") == [
        "API requests",
        "Object storage",
        "Platform fee",
    ]
    assert _texts(xml, f"{LINE}//ram:NetPriceProductTradePrice/ram:ChargeAmount") == [
        "0.002",
        "28.39",
        "99.00",
    ]
    assert _texts(xml, f"{LINE}//ram:NetPriceProductTradePrice/ram:BasisQuantity") == ["1234.5"]
    assert _texts(xml, f"{LINE}//ram:BilledQuantity") == ["12500", "1234.5", "1"]
    assert [e.get("unitCode") for e in _root(xml).iterfind(f"{LINE}//ram:BilledQuantity", NS)] == [
        "C62",
        "C62",
        "MON",
    ]
    assert _texts(xml, f"{LINE}//ram:LineTotalAmount") == ["25.00", "28.39", "99.00"]
    assert _texts(xml, f"{LINE}//ram:ApplicableTradeTax/ram:RateApplicablePercent") == ["19", "19", "19"]
    # VAT breakdown and totals
    assert _one(xml, f"{HEADER_TAX}BasisAmount") == "152.39"
    assert _one(xml, f"{HEADER_TAX}CalculatedAmount") == "28.95"
    assert _one(xml, f"{HEADER_TAX}CategoryCode") == "S"
    assert _one(xml, f"{TOTALS}LineTotalAmount") == "152.39"
    assert _one(xml, f"{TOTALS}TaxBasisTotalAmount") == "152.39"
    assert _one(xml, f"{TOTALS}TaxTotalAmount") == "28.95"
    assert _root(xml).find(f"{TOTALS}TaxTotalAmount", NS).get("currencyID") == "EUR"  # type: ignore[union-attr]
    assert _one(xml, f"{TOTALS}GrandTotalAmount") == "181.34"
    assert _one(xml, f"{TOTALS}TotalPrepaidAmount") == "30.00"
    assert _one(xml, f"{TOTALS}DuePayableAmount") == "151.34"
    assert _texts(xml, f"{TOTALS}RoundingAmount") == []


def test_a_jpy_invoice_has_amounts_without_decimals():
    spec = Spec(
        lines=[
            Line("GPU instances", "1205", quantity="2.41", unit_label="GPU-hour"),
            Line(
                "Platform fee",
                "350",
                quantity="1",
                unit_price="350",
                unit_label="month",
                kind="flat",
                rate="10",
            ),
        ],
        vat=[Vat("S", "10", "1555", "156")],  # 155.5 rounds half-up to 156
        currency="JPY",
    )
    spec.lines[0].rate = "10"
    xml = invoice_xml(issued_invoice(spec, owner=tenant("tokyo", currency="JPY", country="JP")))

    _valid(xml)
    assert _texts(xml, f"{LINE}//ram:LineTotalAmount") == ["1205", "350"]
    assert [e.get("unitCode") for e in _root(xml).iterfind(f"{LINE}//ram:BilledQuantity", NS)] == [
        "HUR",
        "MON",
    ]
    assert _one(xml, f"{HEADER_TAX}CalculatedAmount") == "156"
    assert _one(xml, f"{TOTALS}GrandTotalAmount") == "1711"
    assert _one(xml, f"{TOTALS}DuePayableAmount") == "1711"


def test_an_inclusive_invoice_states_net_lines_allocated_to_the_breakdown_and_its_rounding_amount():
    # gross 1.03 at 19 %: net round(1.03 / 1.19) = 0.87, tax round(0.87 x 0.19 = 0.1653) = 0.17,
    # net + tax = 1.04, so the rounding amount is -0.01. Net 0.87 over gross 0.40 / 0.40 / 0.23: exact
    # 0.3378 / 0.3378 / 0.1943, floors 0.33 / 0.33 / 0.19 (0.85), the 2 cents left to the largest remainders.
    spec = Spec(
        lines=[
            Line("Seat A", "0.40", quantity="1"),
            Line("Seat B", "0.40", quantity="1"),
            Line("Add-on", "0.23"),
        ],
        vat=[Vat("S", "19", "0.87", "0.17")],
        tax_mode="inclusive",
    )
    invoice = issued_invoice(spec)
    assert (invoice.total, invoice.rounding_amount) == (D("1.03"), D("-0.01"))

    xml = invoice_xml(invoice)

    _valid(xml)
    assert _texts(xml, f"{LINE}//ram:LineTotalAmount") == ["0.34", "0.34", "0.19"]
    assert _texts(xml, f"{LINE}//ram:NetPriceProductTradePrice/ram:ChargeAmount") == ["0.34", "0.34", "0.19"]
    assert _one(xml, f"{TOTALS}LineTotalAmount") == "0.87"
    assert _one(xml, f"{TOTALS}TaxTotalAmount") == "0.17"
    assert _one(xml, f"{TOTALS}GrandTotalAmount") == "1.04"
    assert _one(xml, f"{TOTALS}RoundingAmount") == "-0.01"
    assert _one(xml, f"{TOTALS}DuePayableAmount") == "1.03"


def test_a_reverse_charge_invoice_has_category_ae_no_tax_an_exemption_reason_and_both_vat_ids():
    spec = Spec(
        lines=[
            Line("API requests", "100.00", quantity="50000", unit_price="0.002", category="AE", rate="0"),
            Line("Platform fee", "50.00", category="AE", rate="0", kind="flat"),
        ],
        vat=[Vat("AE", "0", "150.00", "0.00", reason="Reverse charge", code="VATEX-EU-AE")],
        reverse_charge=True,
        buyer_vat_id="FR12345678901",
        buyer_country="FR",
        tax_note="Reverse charge: VAT to be accounted for by the recipient (Art. 196 Directive 2006/112/EC).",
    )
    xml = invoice_xml(issued_invoice(spec, owner=tenant("paris", country="FR", vat_id="FR12345678901")))

    _valid(xml)
    assert _one(xml, f"{HEADER_TAX}CategoryCode") == "AE"
    assert _one(xml, f"{HEADER_TAX}CalculatedAmount") == "0.00"
    assert _one(xml, f"{HEADER_TAX}ExemptionReason") == "Reverse charge"
    assert _one(xml, f"{HEADER_TAX}ExemptionReasonCode") == "VATEX-EU-AE"
    assert _one(xml, ".//ram:BuyerTradeParty/ram:SpecifiedTaxRegistration/ram:ID") == "FR12345678901"
    assert _one(xml, ".//ram:SellerTradeParty/ram:SpecifiedTaxRegistration/ram:ID") == "DE123456789"
    assert _one(xml, ".//ram:BuyerTradeParty/ram:PostalTradeAddress/ram:CountryID") == "FR"
    assert _one(xml, "rsm:ExchangedDocument/ram:IncludedNote/ram:Content").startswith("Reverse charge")
    assert _one(xml, f"{TOTALS}GrandTotalAmount") == "150.00"


def test_negative_lines_have_a_negative_quantity_and_a_positive_price():
    spec = Spec(
        lines=[
            Line("API requests", "200.00", quantity="100000", unit_price="0.002", unit_label="request"),
            Line("Discount launch20", "-40.00", kind="discount"),
            Line("Correction of 2026-10", "-12.34", quantity="-617", unit_label="request", kind="correction"),
        ],
        vat=[Vat("S", "19", "147.66", "28.06")],  # 147.66 x 19 % = 28.0554
    )
    xml = invoice_xml(issued_invoice(spec))

    _valid(xml)
    assert _texts(xml, f"{LINE}//ram:BilledQuantity") == ["100000", "-1", "-617"]
    assert _texts(xml, f"{LINE}//ram:NetPriceProductTradePrice/ram:ChargeAmount") == [
        "0.002",
        "40.00",
        "12.34",
    ]
    assert _texts(xml, f"{LINE}//ram:NetPriceProductTradePrice/ram:BasisQuantity") == ["617"]
    assert _texts(xml, f"{LINE}//ram:LineTotalAmount") == ["200.00", "-40.00", "-12.34"]
    assert _one(xml, f"{TOTALS}GrandTotalAmount") == "175.72"


def test_a_credit_note_is_type_381_and_references_the_credited_invoice():
    invoice = issued_invoice(THREE_LINES)
    note = credit_note(
        invoice,
        [Line("API requests", "20.00", quantity="10000", unit_label="request")],
        [Vat("S", "19", "20.00", "3.80")],
    )

    xml = credit_note_xml(note)

    _valid(xml)
    assert _one(xml, "rsm:ExchangedDocument/ram:TypeCode") == "381"
    assert _one(xml, "rsm:ExchangedDocument/ram:ID") == "ACME-CN-2026-000001"
    assert _one(xml, "rsm:ExchangedDocument/ram:IssueDateTime/udt:DateTimeString") == "20261220"
    assert _one(xml, ".//ram:InvoiceReferencedDocument/ram:IssuerAssignedID") == "ACME-2026-000001"
    assert _one(xml, ".//ram:InvoiceReferencedDocument/ram:FormattedIssueDateTime/qdt:DateTimeString") == (
        "20261204"
    )
    assert _one(xml, f"{TOTALS}GrandTotalAmount") == "23.80"
    assert _one(xml, f"{TOTALS}DuePayableAmount") == "23.80"


def test_a_credit_notes_issue_date_is_the_tenants_local_day():
    invoice = issued_invoice(THREE_LINES, owner=tenant("tokyo", timezone="Asia/Tokyo"))
    note = credit_note(invoice, [Line("API requests", "20.00")], [Vat("S", "19", "20.00", "3.80")])

    xml = credit_note_xml(note)  # created 2026-12-20 23:30 UTC: 21 December in Tokyo

    assert _one(xml, "rsm:ExchangedDocument/ram:IssueDateTime/udt:DateTimeString") == "20261221"


def test_an_invoice_without_charges_states_one_line_of_zero():
    xml = invoice_xml(issued_invoice(Spec(lines=[], vat=[])))

    _valid(xml)
    assert _texts(xml, f"{LINE}/ram:SpecifiedTradeProduct/ram:Name") == ["No charges in this period"]
    assert _texts(xml, f"{LINE}//ram:LineTotalAmount") == ["0.00"]
    assert _one(xml, f"{HEADER_TAX}CategoryCode") == "Z"
    assert _one(xml, f"{TOTALS}DuePayableAmount") == "0.00"


def test_the_checker_requires_a_line():
    xml = invoice_xml(issued_invoice(Spec(lines=[], vat=[])))
    start = xml.index(b"<ram:IncludedSupplyChainTradeLineItem>")
    end = xml.index(b"</ram:IncludedSupplyChainTradeLineItem>") + len(
        b"</ram:IncludedSupplyChainTradeLineItem>"
    )

    assert [v.rule for v in check_cii(xml[:start] + xml[end:])] == ["BR-16"]


def test_the_checker_catches_a_tampered_tax_amount():
    xml = invoice_xml(issued_invoice(THREE_LINES))
    tampered = xml.replace(b"<ram:CalculatedAmount>28.95<", b"<ram:CalculatedAmount>28.96<")
    assert tampered != xml

    rules = [v.rule for v in check_cii(tampered)]

    assert rules == ["BR-CO-17", "BR-CO-14"]


def test_the_checker_names_each_broken_total_rule():
    xml = invoice_xml(issued_invoice(THREE_LINES))
    cases = {
        b"<ram:LineTotalAmount>25.00<": ["LINE-CALC", "BR-CO-10", "BR-S-08"],
        b"<ram:TaxBasisTotalAmount>152.39<": ["BR-CO-13", "BR-CO-15"],
        b"<ram:GrandTotalAmount>181.34<": ["BR-CO-15", "BR-CO-16"],
        b"<ram:DuePayableAmount>151.34<": ["BR-CO-16"],
        b"<ram:ChargeAmount>99.00<": ["BR-27", "LINE-CALC"],
    }
    replacements = {
        b"<ram:LineTotalAmount>25.00<": b"<ram:LineTotalAmount>25.01<",
        b"<ram:TaxBasisTotalAmount>152.39<": b"<ram:TaxBasisTotalAmount>152.40<",
        b"<ram:GrandTotalAmount>181.34<": b"<ram:GrandTotalAmount>181.35<",
        b"<ram:DuePayableAmount>151.34<": b"<ram:DuePayableAmount>151.33<",
        b"<ram:ChargeAmount>99.00<": b"<ram:ChargeAmount>-99.00<",
    }
    for needle, rules in cases.items():
        assert needle in xml
        assert [v.rule for v in check_cii(xml.replace(needle, replacements[needle]))] == rules, needle


def test_the_checker_refuses_reverse_charge_without_the_buyers_vat_id():
    spec = Spec(
        lines=[Line("Platform fee", "50.00", category="AE", rate="0")],
        vat=[Vat("AE", "0", "50.00", "0.00", reason="Reverse charge", code="VATEX-EU-AE")],
        reverse_charge=True,
        buyer_vat_id="",
    )
    xml = invoice_xml(issued_invoice(spec))

    assert [v.rule for v in check_cii(xml)] == ["BR-AE-02"]


def test_largest_remainder_allocation_adds_up_exactly():
    assert allocate_largest_remainder(D("0.87"), [D("0.40"), D("0.40"), D("0.23")], "EUR") == [
        D("0.34"),
        D("0.34"),
        D("0.19"),
    ]
    assert allocate_largest_remainder(D("84.03"), [D("100.00"), D("-10.00"), D("10.00")], "EUR") == [
        D("84.03"),
        D("-8.40"),
        D("8.40"),
    ]
    assert allocate_largest_remainder(D("91"), [D("50"), D("50")], "JPY") == [D("46"), D("45")]


def test_unit_labels_map_to_un_ece_rec_20_codes():
    assert [unit_code(label) for label in ("vCPU-hour", "GB", "month", "request", "", "GB-month")] == [
        "HUR",
        "E34",
        "MON",
        "C62",
        "C62",
        "C62",
    ]
