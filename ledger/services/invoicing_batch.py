"""Issuing the invoices of many tenants at once (a batch period close), set-based.

`invoices_issue_many` does for each item what `invoice_save_draft_with_lines(plan_credits=False)`
followed by `invoice_finalize(locked=True)` do for one invoice, with the same checks and the same
rows, but with one statement per step for the whole batch instead of one per invoice: the invoices,
their lines, the numbers, the ledger transactions and their postings are each written with one
multi-row statement, and the chain head is locked once. It runs inside the caller's transaction,
which must already hold every item's tenant row lock and the period's invoice row lock."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from django.db import transaction

from common.db import copy_rows, insert_rows, update_rows
from common.errors import StateError
from ledger.contract import IssueRequest, invoice_data_check
from ledger.models import Alert, CorrectionMarker, CreditGrant, Invoice, InvoiceLine, TaxBreakdown
from ledger.services import credits as credit_services
from ledger.services import posting
from ledger.services.alerts import alerts_resolve_for_invoices
from ledger.services.corrections import correction_credit_notes_issue, originals_lock
from ledger.services.documents import pdf_enqueue
from ledger.services.invoice_rows import (
    APPLIED_FIELDS,
    apply_credit_plan,
    apply_fields,
    check_subtotal,
    line_row,
    set_issue_dates,
    tax_rows,
)
from ledger.services.numbering import invoice_numbers_next, series_for, year_in
from ledger.services.revenue import invoice_posting

# The columns `apply_fields` sets, plus the amounts a draft without planned credits carries.
_DRAFT_FIELDS = [*APPLIED_FIELDS, "credits_applied", "amount_due"]
_FINAL_FIELDS = [
    "status",
    "number",
    "finalized_at",
    "credits_applied",
    "amount_due",
    "ledger_transaction",
    "pdf_version",
    "issue_date",
    "due_date",
    "payment_terms_days",
]


def invoices_issue_many(*, requests: Sequence[IssueRequest], now: datetime) -> list[Invoice]:
    """Store and finalize one invoice per request (see the module docstring); returns them in order.
    Raises (and the caller's transaction must then roll back) on the first invoice that fails a check."""
    invoices: list[Invoice] = []
    for request in requests:
        data = request.data
        if data.blocked_reason:
            raise StateError(f"invoice of tenant {data.tenant_id} for {data.period_key} is blocked")
        invoice_data_check(data)
        invoice = request.existing or Invoice(tenant_id=data.tenant_id, period_start=data.period_start)
        if invoice.is_issued:
            raise StateError(f"invoice {invoice.number} for {data.period_key} is already {invoice.status}")
        apply_fields(invoice, data, now)
        invoice.credits_applied = Decimal(0)
        invoice.amount_due = invoice.total
        invoices.append(invoice)
    with transaction.atomic(savepoint=False):
        originals_lock(
            {line.corrects_invoice_id for r in requests for line in r.data.lines if line.corrects_invoice_id}
            | {credit.invoice_id for r in requests for credit in r.data.correction_credits}
        )
        existing = [inv for inv, r in zip(invoices, requests, strict=True) if r.existing is not None]
        if existing:
            update_rows(existing, _DRAFT_FIELDS)
            InvoiceLine.objects.filter(invoice__in=existing).delete()
            TaxBreakdown.objects.filter(invoice__in=existing).delete()
            alerts_resolve_for_invoices(
                kind=Alert.Kind.INVOICE_BLOCKED, invoice_ids=[inv.pk for inv in existing], now=now
            )
        insert_rows([inv for inv, r in zip(invoices, requests, strict=True) if r.existing is None])
        lines = [
            line_row(invoice, position, line)
            for invoice, request in zip(invoices, requests, strict=True)
            for position, line in enumerate(request.data.lines, start=1)
        ]
        copy_rows(lines)
        breakdown = [
            row
            for invoice, request in zip(invoices, requests, strict=True)
            for row in tax_rows(invoice, request.data.vat)
        ]
        if breakdown:
            copy_rows(breakdown)
        lines_of: dict[int, list[InvoiceLine]] = {inv.pk: [] for inv in invoices}
        for line in lines:
            lines_of[line.invoice_id].append(line)
        numbers = invoice_numbers_next(
            keys=[(series_for(r.tenant), year_in(r.tenant.timezone, now)) for r in requests]
        )
        with_grants = set(
            CreditGrant.objects.filter(tenant_id__in={inv.tenant_id for inv in invoices})
            .values_list("tenant_id", flat=True)
            .distinct()
        )
        plans: list[list[credit_services.CreditUse]] = []
        postings: list[posting.PostingRequest] = []
        for invoice, request, number in zip(invoices, requests, numbers, strict=True):
            own = lines_of[invoice.pk]
            check_subtotal(invoice, own)
            invoice.number, invoice.finalized_at = number, now
            set_issue_dates(invoice, request.tenant, now)
            plan = (
                credit_services.credits_plan(
                    tenant_id=invoice.tenant_id,
                    currency=invoice.currency,
                    at=invoice.period_end,
                    due=invoice.total,
                    lock=True,
                )
                if invoice.tenant_id in with_grants
                else []
            )
            plans.append(plan)
            apply_credit_plan(invoice, plan)
            postings.append(invoice_posting(invoice, tenant=request.tenant, lines=own, booked_at=now))
        # Last: the ledger append holds the hash-chain lock until COMMIT, so keep what follows short.
        for invoice, tx in zip(invoices, posting.transactions_post(postings), strict=True):
            invoice.ledger_transaction = tx
            invoice.status = Invoice.Status.FINALIZED
            invoice.pdf_version += 1
        update_rows(invoices, _FINAL_FIELDS)
        for invoice, request, plan in zip(invoices, requests, plans, strict=True):
            if plan:
                credit_services.credits_consume(
                    invoice=invoice, plan=plan, tenant_slug=request.tenant.slug, at=now
                )
        markers = [
            CorrectionMarker(original_id=oid, correcting=invoice, period_key=key, created_at=now)
            for invoice in invoices
            for oid, key in {
                line.corrects_invoice_id: line.corrects_period
                for line in lines_of[invoice.pk]
                if line.corrects_invoice_id
            }.items()
        ]
        for invoice, request in zip(invoices, requests, strict=True):
            if request.data.correction_credits:
                markers += correction_credit_notes_issue(
                    invoice=invoice, credits=request.data.correction_credits, now=now
                )
        if markers:
            CorrectionMarker.objects.bulk_create(markers)
        pdf_enqueue([invoice.pk for invoice in invoices], on_issue=True)
    return invoices
