"""The stored rows of an invoice built from its computed document (`ledger.contract.InvoiceData`): the
invoice's fields, its line rows, the subtotal check and the credit amounts. Shared by the one-tenant path
(invoicing.py) and the batch close (invoicing_batch.py), so both store exactly the same rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from django.conf import settings

from common.errors import StateError
from common.money import quantize_money
from ledger.contract import InvoiceData, LineData
from ledger.models import Invoice, InvoiceLine
from ledger.services import credits as credit_services


def apply_fields(invoice: Invoice, data: InvoiceData, now: datetime) -> None:
    invoice.status = Invoice.Status.BLOCKED if data.blocked_reason else Invoice.Status.DRAFT
    invoice.blocked_reason = data.blocked_reason
    invoice.period_key = data.period_key
    invoice.period_end = data.period_end
    invoice.currency = data.currency
    invoice.profile_version_id = data.profile_version_id
    invoice.subtotal = data.subtotal
    invoice.tax_jurisdiction = data.tax.jurisdiction if data.tax else ""
    invoice.tax_rate = data.tax.rate if data.tax else None
    invoice.tax_mode = data.tax.mode if data.tax else Invoice.TaxMode.EXCLUSIVE
    invoice.tax_rule_id = data.tax.rule_id if data.tax else None
    invoice.tax_exact = data.tax.exact if data.tax else Decimal(0)
    invoice.tax_total = data.tax_total
    invoice.total = data.total
    invoice.base_currency = settings.LEDGER_BASE_CURRENCY
    invoice.fx_rate = data.fx.rate if data.fx else None
    invoice.fx_rate_id = data.fx.rate_id if data.fx else None
    invoice.fx_rate_date = data.fx.rate_date if data.fx else None
    invoice.fx_source = data.fx.source if data.fx else ""
    invoice.base_total = (
        quantize_money(data.total * data.fx.rate, settings.LEDGER_BASE_CURRENCY) if data.fx else None
    )
    invoice.computed_at = now


def line_row(invoice: Invoice, position: int, line: LineData) -> InvoiceLine:
    return InvoiceLine(
        invoice=invoice,
        position=position,
        kind=line.kind,
        sku_code=line.sku_code,
        service_category=line.service_category,
        profile_version_id=line.profile_version_id,
        description=line.description[:255],
        quantity=line.quantity,
        unit_label=line.unit_label,
        unit_price=line.unit_price,
        amount_exact=line.amount_exact,
        amount=line.amount,
        discount_code=line.discount_code,
        segment_start=line.segment_start,
        segment_end=line.segment_end,
        breakdown=list(line.breakdown),
        corrects_invoice_id=line.corrects_invoice_id,
        corrects_period=line.corrects_period,
    )


def check_subtotal(invoice: Invoice, lines: Sequence[InvoiceLine]) -> None:
    """The stored lines add up to the subtotal (also a DB trigger; not an assert, which python -O would
    drop)."""
    subtotal = sum((line.amount for line in lines), Decimal(0))
    if subtotal != invoice.subtotal:
        raise StateError(
            f"invoice subtotal {invoice.subtotal} is not the sum of its rounded lines ({subtotal})"
        )


def apply_credit_plan(invoice: Invoice, plan: Sequence[credit_services.CreditUse]) -> None:
    invoice.credits_applied = sum((use.amount for use in plan), Decimal(0))
    invoice.amount_due = invoice.total - invoice.credits_applied
