"""The VAT breakdown of a document as EN 16931 computes it: the one road for invoices (billing's close)
and credit notes (the ledger), pure functions over rounded line amounts.

Per VAT category and rate (rule BR-CO-17):
- exclusive prices: taxable = the sum of the document's rounded lines at that rate; tax = taxable x rate
  / 100, rounded once to the currency's minor unit (ROUND_HALF_UP).
- inclusive prices: the lines are gross; gross = their sum; taxable (net) = gross x 100 / (100 + rate)
  rounded once; tax = taxable x rate / 100 rounded once (the same rule); what is left, gross - taxable -
  tax (a minor unit at most), is the document's rounding amount (BT-114), so the total stays the gross.
So every figure on a document can be re-derived from the printed ones.

Categories (UNCL 5305): S standard rate, Z zero rate (a 0 % rule), AE reverse charge (0 %, with its legal
note). Reverse charge applies to B2B customers with a VAT ID in another EU member state than the
issuer's (`reverse_charge_applies`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, localcontext

from common.money import WIDE_CONTEXT, quantize_money

__all__ = [
    "EU_MEMBER_STATES",
    "REVERSE_CHARGE",
    "REVERSE_CHARGE_CODE",
    "REVERSE_CHARGE_NOTE",
    "VatRow",
    "category_for",
    "reverse_charge_applies",
    "vat_breakdown",
]

HUNDRED = Decimal(100)
ZERO = Decimal(0)

# ISO 3166 codes of the EU member states (VAT IDs of Greece start with EL).
EU_MEMBER_STATES = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "CY",
        "CZ",
        "DE",
        "DK",
        "EE",
        "ES",
        "FI",
        "FR",
        "GR",
        "HR",
        "HU",
        "IE",
        "IT",
        "LT",
        "LU",
        "LV",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SE",
        "SI",
        "SK",
    ]
)
STANDARD = "S"
ZERO_RATED = "Z"
REVERSE_CHARGE = "AE"
REVERSE_CHARGE_CODE = "VATEX-EU-AE"
REVERSE_CHARGE_NOTE = (
    "Reverse charge: VAT to be accounted for by the recipient (Article 196 of Council Directive 2006/112/EC)."
)


@dataclass(frozen=True, slots=True)
class VatRow:
    """One row of the breakdown. `gross` is the sum of the lines at this rate as printed; `rounding` is
    0 with exclusive prices."""

    category: str
    rate: Decimal
    taxable: Decimal
    tax: Decimal
    gross: Decimal
    rounding: Decimal
    exemption_reason: str = ""
    exemption_code: str = ""

    @property
    def tax_exact(self) -> Decimal:
        """taxable x rate / 100 before its one rounding (kept for audit)."""
        with localcontext(WIDE_CONTEXT):
            return self.taxable * self.rate / HUNDRED


def reverse_charge_applies(*, buyer_country: str, buyer_vat_id: str, seller_country: str) -> bool:
    """EU B2B across a border: the buyer has a VAT ID and is in another member state than the seller."""
    return (
        bool(buyer_vat_id.strip())
        and buyer_country in EU_MEMBER_STATES
        and seller_country in EU_MEMBER_STATES
        and buyer_country != seller_country
    )


def category_for(*, rate: Decimal, reverse_charge: bool) -> str:
    if reverse_charge:
        return REVERSE_CHARGE
    return STANDARD if rate > 0 else ZERO_RATED


def vat_breakdown(
    lines: Iterable[tuple[str, Decimal, Decimal]], *, inclusive: bool, currency: str
) -> list[VatRow]:
    """Rows for (category, rate %, rounded line amount) triples, in order of first appearance. A
    reverse-charge row carries its exemption reason and code."""
    gross: dict[tuple[str, Decimal], Decimal] = defaultdict(Decimal)
    for category, rate, amount in lines:
        gross[(category, rate)] += amount  # equal Decimals hash alike: 19 and 19.0000 are one rate
    rows: list[VatRow] = []
    with localcontext(WIDE_CONTEXT):
        for (category, rate), total in gross.items():
            taxable = quantize_money(total * HUNDRED / (HUNDRED + rate), currency) if inclusive else total
            tax = quantize_money(taxable * rate / HUNDRED, currency)
            rounding = total - taxable - tax if inclusive else ZERO
            reverse = category == REVERSE_CHARGE
            rows.append(
                VatRow(
                    category=category,
                    rate=rate,
                    taxable=taxable,
                    tax=tax,
                    gross=total,
                    rounding=rounding,
                    exemption_reason="Reverse charge" if reverse else "",
                    exemption_code=REVERSE_CHARGE_CODE if reverse else "",
                )
            )
    return rows
