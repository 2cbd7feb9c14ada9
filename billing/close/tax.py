"""Tax on an invoice, from the unrounded line amounts (docs/invoicing.md, "Rounding").

- exclusive: tax = sum(exact lines) x rate / 100; the customer pays lines + tax.
- inclusive: the lines already contain the tax; tax = sum(exact lines) x rate / (100 + rate), the net
  is the rest. The invoice total is the sum of the (rounded) lines.
In both modes the exact tax is rounded once, half up, to the currency's minor unit."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal, localcontext

from common.money import WIDE_CONTEXT, quantize_money


def tax_exact(*, amounts: Iterable[Decimal], rate: Decimal, mode: str) -> Decimal:
    with localcontext(WIDE_CONTEXT):
        base = sum(amounts, Decimal(0))
        if mode == "inclusive":
            return base * rate / (100 + rate)
        return base * rate / 100


def tax_rounded(
    *, amounts: Iterable[Decimal], rate: Decimal, mode: str, currency: str
) -> tuple[Decimal, Decimal]:
    exact = tax_exact(amounts=amounts, rate=rate, mode=mode)
    return exact, quantize_money(exact, currency)
