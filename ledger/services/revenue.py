"""How an issued document is split into ledger legs: revenue per service category, the discounts
contra-revenue account and tax payable. Invoices post them as credits; credit notes post their reverse."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from common.money import quantize_money
from ledger.models import Invoice, InvoiceLine, Transaction
from ledger.services import posting
from tenants.models import Tenant


def allocate(total: Decimal, weights: Sequence[Decimal], currency: str) -> list[Decimal]:
    """Split `total` across `weights` proportionally, each share rounded once, the residual on the largest
    weight so the shares sum to `total` exactly."""
    if not weights:
        return []
    base = sum((abs(w) for w in weights), Decimal(0))
    if base == 0:
        shares = [Decimal(0)] * len(weights)
        shares[0] = total
        return shares
    shares = [quantize_money(total * abs(w) / base, currency) for w in weights]
    biggest = max(range(len(weights)), key=lambda i: abs(weights[i]))
    shares[biggest] += total - sum(shares, Decimal(0))
    return shares


def revenue_legs(
    *,
    lines: Sequence[tuple[str, str, Decimal]],
    tax: Decimal,
    jurisdiction: str,
    inclusive: bool,
    currency: str,
) -> list[posting.Leg]:
    """Credit legs for (kind, service category, amount) lines and the tax: revenue per category, the
    discounts contra-revenue account, tax payable. With inclusive tax the tax is carved out of the
    revenue categories in proportion to their amounts. Signs as for an invoice (credits negative)."""
    by_category: dict[str, Decimal] = defaultdict(Decimal)
    discounts = Decimal(0)
    for kind, category, amount in lines:
        if kind == InvoiceLine.Kind.DISCOUNT:
            discounts += amount
        else:
            by_category[category or "Other"] += amount
    categories = sorted(by_category)
    amounts = [by_category[c] for c in categories]
    if inclusive and tax:
        for i, share in enumerate(allocate(tax, amounts, currency)):
            amounts[i] -= share
    legs = [posting.Leg(posting.revenue(c), -a) for c, a in zip(categories, amounts, strict=True)]
    legs.append(posting.Leg(posting.DISCOUNTS, -discounts))
    legs.append(posting.Leg(posting.tax_payable(jurisdiction or "none"), -tax))
    return legs


def invoice_posting(
    invoice: Invoice, *, tenant: Tenant, lines: Sequence[InvoiceLine], booked_at: datetime
) -> posting.PostingRequest:
    """The ledger transaction of a finalized invoice: Dr the tenant's receivable for the total, Cr revenue
    per line kind and category and Cr tax, in the invoice's currency at its FX rate."""
    legs = [posting.Leg(posting.receivable(tenant.pk, tenant.slug), invoice.total)]
    legs += revenue_legs(
        lines=[
            (posting_kind(line.kind, line.component), line.service_category, line.amount) for line in lines
        ],
        tax=invoice.tax_total,
        jurisdiction=invoice.tax_jurisdiction,
        inclusive=invoice.tax_mode == Invoice.TaxMode.INCLUSIVE,
        currency=invoice.currency,
    )
    return posting.PostingRequest(
        kind=Transaction.Kind.INVOICE,
        legs=legs,
        currency=invoice.currency,
        fx_rate=invoice.fx_rate or Decimal(1),
        tenant_id=tenant.pk,
        reference=invoice.number or "",  # numbered before it is posted
        memo=f"invoice {invoice.period_key}",
        booked_at=booked_at,
    )


def posting_kind(kind: str, component: str) -> str:
    """The line kind a line posts as: a line of a discount component (a discount, its correction, its
    credit) goes to the discounts contra-revenue account, every other line by its own kind."""
    if component.startswith("discount:"):
        return InvoiceLine.Kind.DISCOUNT
    return kind
