"""Our own EN 16931 business-rule checks over a built CII XML, read back from its bytes: the arithmetic
rules a reader re-derives from the printed figures, and the reverse-charge and price rules we can break.
The official XSD (facturx.xml_check_xsd) checks the structure; these check the numbers. Pure: no ORM.

Rules (EN 16931-1): BR-CO-10, BR-CO-13, BR-CO-14, BR-CO-15, BR-CO-16, BR-CO-17 (to the currency's minor
unit, half-up, as the close rounds), BR-CO-18, BR-16, BR-xx-08 per VAT category (S, Z, E, AE, O, ...),
BR-AE-02, BR-AE-05, BR-AE-09, BR-AE-10, BR-27, and LINE-CALC (ours: a line's net amount is exactly its
billed quantity x net price / basis quantity)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from xml.etree import ElementTree as ET

from common.money import UnknownCurrency, currency_exponent
from ledger.einvoice.cii import NS


@dataclass(frozen=True)
class Violation:
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.message}"


class _Unreadable(ValueError):
    pass


def _text(element: ET.Element | None, path: str) -> str | None:
    if element is None:
        return None
    found = element.find(path, NS)
    return found.text.strip() if found is not None and found.text is not None else None


def _amount(element: ET.Element | None, path: str, *, default: Decimal | None = None) -> Decimal:
    text = _text(element, path)
    if text is None:
        if default is not None:
            return default
        raise _Unreadable(f"{path} is missing")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise _Unreadable(f"{path} is not a number: {text!r}") from None
    if not value.is_finite():
        raise _Unreadable(f"{path} is not a number: {text!r}")
    return value


def _key(category: str, rate: Decimal) -> tuple[str, Decimal]:
    return (category, rate.normalize())


def check_cii(xml: bytes) -> list[Violation]:
    """Every violation found in the XML (empty: it passes). Unreadable figures are one violation each."""
    try:
        # Our own output (or a copy of it under test), never a document from outside.
        root = ET.fromstring(xml)  # noqa: S314
    except ET.ParseError as err:
        return [Violation("XML", f"not well-formed: {err}")]
    try:
        return _check(root)
    except _Unreadable as err:
        return [Violation("XML", str(err))]


def _check(root: ET.Element) -> list[Violation]:
    violations: list[Violation] = []
    transaction = root.find("rsm:SupplyChainTradeTransaction", NS)
    settlement = root.find("rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement", NS)
    if transaction is None or settlement is None:
        raise _Unreadable("no trade transaction or header settlement")
    currency = _text(settlement, "ram:InvoiceCurrencyCode") or ""
    try:
        quantum = Decimal(1).scaleb(-currency_exponent(currency))
    except UnknownCurrency:
        return [Violation("BR-05", f"unknown invoice currency {currency!r}")]

    # Lines: net amounts per (category, rate), price rules.
    line_sum = Decimal(0)
    per_rate: dict[tuple[str, Decimal], Decimal] = defaultdict(Decimal)
    categories: set[str] = set()
    for item in transaction.findall("ram:IncludedSupplyChainTradeLineItem", NS):
        line_id = _text(item, "ram:AssociatedDocumentLineDocument/ram:LineID") or "?"
        net = _amount(
            item,
            "ram:SpecifiedLineTradeSettlement/ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount",
        )
        price = _amount(
            item, "ram:SpecifiedLineTradeAgreement/ram:NetPriceProductTradePrice/ram:ChargeAmount"
        )
        basis = _amount(
            item,
            "ram:SpecifiedLineTradeAgreement/ram:NetPriceProductTradePrice/ram:BasisQuantity",
            default=Decimal(1),
        )
        quantity = _amount(item, "ram:SpecifiedLineTradeDelivery/ram:BilledQuantity")
        category = (
            _text(item, "ram:SpecifiedLineTradeSettlement/ram:ApplicableTradeTax/ram:CategoryCode") or ""
        )
        rate = _amount(
            item,
            "ram:SpecifiedLineTradeSettlement/ram:ApplicableTradeTax/ram:RateApplicablePercent",
            default=Decimal(0),
        )
        if price < 0:
            violations.append(Violation("BR-27", f"line {line_id}: net price {price} is negative"))
        if basis <= 0:
            violations.append(
                Violation("LINE-CALC", f"line {line_id}: basis quantity {basis} is not positive")
            )
        elif quantity * price / basis != net:
            violations.append(
                Violation(
                    "LINE-CALC", f"line {line_id}: {quantity} x {price} / {basis} is not its net amount {net}"
                )
            )
        if category == "AE" and rate != 0:
            violations.append(Violation("BR-AE-05", f"line {line_id}: reverse charge at {rate} %, not 0"))
        line_sum += net
        per_rate[_key(category, rate)] += net
        categories.add(category)

    if not categories:
        violations.append(Violation("BR-16", "no invoice line"))

    totals = settlement.find("ram:SpecifiedTradeSettlementHeaderMonetarySummation", NS)
    if totals is None:
        raise _Unreadable("no document totals (BG-22)")
    line_total = _amount(totals, "ram:LineTotalAmount")
    allowances = _amount(totals, "ram:AllowanceTotalAmount", default=Decimal(0))
    charges = _amount(totals, "ram:ChargeTotalAmount", default=Decimal(0))
    basis_total = _amount(totals, "ram:TaxBasisTotalAmount")
    tax_total = _amount(totals, "ram:TaxTotalAmount", default=Decimal(0))
    grand = _amount(totals, "ram:GrandTotalAmount")
    prepaid = _amount(totals, "ram:TotalPrepaidAmount", default=Decimal(0))
    rounding = _amount(totals, "ram:RoundingAmount", default=Decimal(0))
    due = _amount(totals, "ram:DuePayableAmount")

    if line_sum != line_total:
        violations.append(
            Violation("BR-CO-10", f"the lines add up to {line_sum}, the line total is {line_total}")
        )
    if basis_total != line_total - allowances + charges:
        violations.append(
            Violation(
                "BR-CO-13",
                f"tax basis total {basis_total} is not {line_total} - {allowances} + {charges}",
            )
        )

    # VAT breakdown.
    breakdown_tax = Decimal(0)
    seen: set[tuple[str, Decimal]] = set()
    reverse_charge = False
    rows = settlement.findall("ram:ApplicableTradeTax", NS)
    if not rows:
        violations.append(Violation("BR-CO-18", "no VAT breakdown"))
    for row in rows:
        category = _text(row, "ram:CategoryCode") or ""
        rate = _amount(row, "ram:RateApplicablePercent", default=Decimal(0))
        taxable = _amount(row, "ram:BasisAmount")
        tax = _amount(row, "ram:CalculatedAmount")
        breakdown_tax += tax
        key = _key(category, rate)
        seen.add(key)
        label = f"{category} {rate} %"
        expected = (taxable * rate / 100).quantize(quantum, rounding=ROUND_HALF_UP)
        if tax != expected:
            violations.append(
                Violation("BR-CO-17", f"{label}: tax {tax} is not {taxable} x {rate} % rounded ({expected})")
            )
        if taxable != per_rate.get(key, Decimal(0)):
            violations.append(
                Violation(
                    f"BR-{category}-08",
                    f"{label}: taxable amount {taxable} is not the sum of its lines {per_rate.get(key, Decimal(0))}",
                )
            )
        if category == "AE":
            reverse_charge = True
            if tax != 0:
                violations.append(Violation("BR-AE-09", f"reverse charge with tax {tax}, not 0"))
            if not (_text(row, "ram:ExemptionReason") or _text(row, "ram:ExemptionReasonCode")):
                violations.append(Violation("BR-AE-10", "reverse charge without an exemption reason or code"))
    for key in per_rate.keys() - seen:
        violations.append(
            Violation(f"BR-{key[0]}-08", f"lines at {key[0]} {key[1]} % have no VAT breakdown row")
        )

    if tax_total != breakdown_tax:
        violations.append(
            Violation("BR-CO-14", f"tax total {tax_total} is not the breakdown's {breakdown_tax}")
        )
    if grand != basis_total + tax_total:
        violations.append(Violation("BR-CO-15", f"grand total {grand} is not {basis_total} + {tax_total}"))
    if due != grand - prepaid + rounding:
        violations.append(Violation("BR-CO-16", f"amount due {due} is not {grand} - {prepaid} + {rounding}"))
    tax_currency = totals.find("ram:TaxTotalAmount", NS)
    if tax_currency is not None and tax_currency.get("currencyID") != currency:
        violations.append(Violation("BR-CO-14", "the tax total is not stated in the invoice currency"))

    if reverse_charge or "AE" in categories:
        agreement = transaction.find("ram:ApplicableHeaderTradeAgreement", NS)
        seller = _text(agreement, "ram:SellerTradeParty/ram:SpecifiedTaxRegistration/ram:ID[@schemeID='VA']")
        buyer = _text(agreement, "ram:BuyerTradeParty/ram:SpecifiedTaxRegistration/ram:ID[@schemeID='VA']")
        if not seller or not buyer:
            violations.append(
                Violation("BR-AE-02", "reverse charge needs the seller's and the buyer's VAT identifiers")
            )
    return violations
