"""The stored rows of an invoice built from its computed document (`ledger.contract.InvoiceData`): the
invoice's fields, its line rows, the subtotal check and the credit amounts. Shared by the one-tenant path
(invoicing.py) and the batch close (invoicing_batch.py), so both store exactly the same rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings

from common.errors import StateError
from common.money import quantize_money
from ledger.contract import InvoiceData, LineData
from ledger.models import Invoice, InvoiceLine, TaxBreakdown
from ledger.services import credits as credit_services
from ledger.vat import VatRow
from tenants.models import Tenant


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
    invoice.period_first_day = data.period_first_day
    invoice.period_last_day = data.period_last_day
    invoice.payment_terms_days = data.payment_terms_days
    invoice.seller_vat_id = data.seller_vat_id
    invoice.buyer_vat_id = data.buyer_vat_id
    invoice.buyer_country = data.buyer_country
    invoice.reverse_charge = data.reverse_charge
    invoice.tax_note = data.tax_note
    invoice.rounding_amount = data.rounding_amount


# The columns `apply_fields` sets (for a batch UPDATE of existing drafts).
APPLIED_FIELDS = [
    "status",
    "blocked_reason",
    "period_key",
    "period_end",
    "currency",
    "profile_version_id",
    "subtotal",
    "tax_jurisdiction",
    "tax_rate",
    "tax_mode",
    "tax_rule_id",
    "tax_exact",
    "tax_total",
    "total",
    "base_currency",
    "fx_rate",
    "fx_rate_id",
    "fx_rate_date",
    "fx_source",
    "base_total",
    "computed_at",
    "period_first_day",
    "period_last_day",
    "payment_terms_days",
    "seller_vat_id",
    "buyer_vat_id",
    "buyer_country",
    "reverse_charge",
    "tax_note",
    "rounding_amount",
]


def set_issue_dates(invoice: Invoice, tenant: Tenant, now: datetime) -> None:
    """Issue date: the tenant's local date at finalization; due date: that plus the payment terms."""
    invoice.issue_date = now.astimezone(ZoneInfo(tenant.timezone)).date()
    terms = (
        invoice.payment_terms_days if invoice.payment_terms_days is not None else tenant.payment_terms_days
    )
    invoice.payment_terms_days = terms
    invoice.due_date = invoice.issue_date + timedelta(days=terms)


def tax_rows(invoice: Invoice, vat: Sequence[VatRow]) -> list[TaxBreakdown]:
    return [vat_row(row, invoice=invoice) for row in vat]


def vat_row(row: VatRow, **document: object) -> TaxBreakdown:
    return TaxBreakdown(
        category=row.category,
        rate=row.rate,
        taxable_amount=row.taxable,
        tax_amount=row.tax,
        exemption_reason=row.exemption_reason,
        exemption_code=row.exemption_code,
        **document,
    )


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
        component=line.component,
        tax_category=line.tax_category,
        tax_rate=line.tax_rate,
        billed_before=line.billed_before,
        repriced=line.repriced,
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
