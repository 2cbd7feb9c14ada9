"""Serializing a `CiiDocument` (ledger/einvoice/cii.py) as Factur-X / ZUGFeRD CII XML, profile EN 16931:
the element order of the CII schema, amounts with exactly the currency's minor-unit digits, quantities
and prices exactly, never in exponent notation."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from xml.etree import ElementTree as ET

from common.money import currency_exponent, quantize_money
from ledger.einvoice.cii import (
    GUIDELINE,
    NS,
    CiiDocument,
    Party,
    credit_note_cii,
    invoice_cii,
)
from ledger.models import CreditNote, Invoice


def amount_text(value: Decimal, currency: str) -> str:
    """An amount with exactly the currency's minor-unit digits, never in exponent notation."""
    return f"{quantize_money(value, currency):f}"


def decimal_text(value: Decimal) -> str:
    """A quantity, rate or price exactly, without trailing zeros or exponent notation."""
    text = f"{value:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def price_text(value: Decimal, currency: str) -> str:
    """A net price exactly: its own digits, at least the currency's minor-unit digits (0.002, 99.00)."""
    exact = decimal_text(value)
    return (
        exact if len(exact.partition(".")[2]) > currency_exponent(currency) else amount_text(value, currency)
    )


def _el(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    prefix, name = tag.split(":")
    element = ET.SubElement(parent, f"{{{NS[prefix]}}}{name}", attrs)
    if text is not None:
        element.text = text
    return element


def _date(parent: ET.Element, tag: str, day: date, *, qualified: bool = False) -> None:
    holder = _el(parent, tag)
    _el(
        holder,
        "qdt:DateTimeString" if qualified else "udt:DateTimeString",
        day.strftime("%Y%m%d"),
        format="102",
    )


def _party(parent: ET.Element, tag: str, party: Party) -> None:
    element = _el(parent, tag)
    _el(element, "ram:Name", party.name)
    address = _el(element, "ram:PostalTradeAddress")
    for tag_name, text in zip(
        ("ram:LineOne", "ram:LineTwo", "ram:LineThree"), party.address_lines, strict=False
    ):
        _el(address, tag_name, text)
    _el(address, "ram:CountryID", party.country)
    if party.vat_id:
        _el(_el(element, "ram:SpecifiedTaxRegistration"), "ram:ID", party.vat_id, schemeID="VA")


def _tax(parent: ET.Element, category: str, rate: Decimal | None) -> None:
    _el(parent, "ram:TypeCode", "VAT")
    _el(parent, "ram:CategoryCode", category)
    if rate is not None:
        _el(parent, "ram:RateApplicablePercent", decimal_text(rate))


def cii_xml(doc: CiiDocument) -> bytes:
    """The document as Factur-X CII XML (UTF-8, with its XML declaration)."""
    cur = doc.currency
    root = ET.Element(f"{{{NS['rsm']}}}CrossIndustryInvoice")
    context = _el(root, "rsm:ExchangedDocumentContext")
    _el(_el(context, "ram:GuidelineSpecifiedDocumentContextParameter"), "ram:ID", GUIDELINE)

    header = _el(root, "rsm:ExchangedDocument")
    _el(header, "ram:ID", doc.number)
    _el(header, "ram:TypeCode", doc.type_code)
    _date(header, "ram:IssueDateTime", doc.issue_date)
    for note in doc.notes:
        _el(_el(header, "ram:IncludedNote"), "ram:Content", note)

    transaction = _el(root, "rsm:SupplyChainTradeTransaction")
    for line in doc.lines:
        item = _el(transaction, "ram:IncludedSupplyChainTradeLineItem")
        _el(_el(item, "ram:AssociatedDocumentLineDocument"), "ram:LineID", line.line_id)
        _el(_el(item, "ram:SpecifiedTradeProduct"), "ram:Name", line.name)
        price = _el(_el(item, "ram:SpecifiedLineTradeAgreement"), "ram:NetPriceProductTradePrice")
        _el(price, "ram:ChargeAmount", price_text(line.price, cur))
        if line.basis_quantity is not None:
            _el(price, "ram:BasisQuantity", decimal_text(line.basis_quantity), unitCode=line.unit_code)
        delivery = _el(item, "ram:SpecifiedLineTradeDelivery")
        _el(delivery, "ram:BilledQuantity", decimal_text(line.billed_quantity), unitCode=line.unit_code)
        settlement = _el(item, "ram:SpecifiedLineTradeSettlement")
        _tax(_el(settlement, "ram:ApplicableTradeTax"), line.category, line.rate)
        summation = _el(settlement, "ram:SpecifiedTradeSettlementLineMonetarySummation")
        _el(summation, "ram:LineTotalAmount", amount_text(line.net_amount, cur))

    agreement = _el(transaction, "ram:ApplicableHeaderTradeAgreement")
    _party(agreement, "ram:SellerTradeParty", doc.seller)
    _party(agreement, "ram:BuyerTradeParty", doc.buyer)
    _el(transaction, "ram:ApplicableHeaderTradeDelivery")

    settlement = _el(transaction, "ram:ApplicableHeaderTradeSettlement")
    _el(settlement, "ram:InvoiceCurrencyCode", cur)
    for tax in doc.taxes:
        element = _el(settlement, "ram:ApplicableTradeTax")
        _el(element, "ram:CalculatedAmount", amount_text(tax.tax, cur))
        _el(element, "ram:TypeCode", "VAT")
        if tax.exemption_reason:
            _el(element, "ram:ExemptionReason", tax.exemption_reason)
        _el(element, "ram:BasisAmount", amount_text(tax.taxable, cur))
        _el(element, "ram:CategoryCode", tax.category)
        if tax.exemption_code:
            _el(element, "ram:ExemptionReasonCode", tax.exemption_code)
        if tax.rate is not None:
            _el(element, "ram:RateApplicablePercent", decimal_text(tax.rate))
    if doc.period is not None:
        period = _el(settlement, "ram:BillingSpecifiedPeriod")
        _date(period, "ram:StartDateTime", doc.period[0])
        _date(period, "ram:EndDateTime", doc.period[1])
    if doc.payment_terms or doc.due_date is not None:
        terms = _el(settlement, "ram:SpecifiedTradePaymentTerms")
        if doc.payment_terms:
            _el(terms, "ram:Description", doc.payment_terms)
        if doc.due_date is not None:
            _date(terms, "ram:DueDateDateTime", doc.due_date)
    totals = _el(settlement, "ram:SpecifiedTradeSettlementHeaderMonetarySummation")
    _el(totals, "ram:LineTotalAmount", amount_text(doc.line_total, cur))
    _el(totals, "ram:TaxBasisTotalAmount", amount_text(doc.line_total, cur))
    _el(totals, "ram:TaxTotalAmount", amount_text(doc.tax_total, cur), currencyID=cur)
    if doc.rounding != 0:
        _el(totals, "ram:RoundingAmount", amount_text(doc.rounding, cur))
    _el(totals, "ram:GrandTotalAmount", amount_text(doc.grand_total, cur))
    _el(totals, "ram:TotalPrepaidAmount", amount_text(doc.prepaid, cur))
    _el(totals, "ram:DuePayableAmount", amount_text(doc.due_payable, cur))
    if doc.referenced is not None:
        referenced = _el(settlement, "ram:InvoiceReferencedDocument")
        _el(referenced, "ram:IssuerAssignedID", doc.referenced[0])
        if doc.referenced[1] is not None:
            _date(referenced, "ram:FormattedIssueDateTime", doc.referenced[1], qualified=True)
    ET.indent(root)
    body: bytes = ET.tostring(root, encoding="UTF-8", xml_declaration=True)
    return body


def invoice_xml(invoice: Invoice) -> bytes:
    return cii_xml(invoice_cii(invoice))


def credit_note_xml(note: CreditNote) -> bytes:
    return cii_xml(credit_note_cii(note))
