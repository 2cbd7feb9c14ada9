"""Reads over the ledger. Balances are SQL aggregations (SUM over postings joined to transactions),
served by the (account, transaction) index; nothing is summed in Python."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import F, Max, Prefetch, Q, QuerySet, Sum

from ledger.models import (
    Account,
    CreditNoteDocument,
    Dispute,
    DisputeEvent,
    Invoice,
    InvoiceLine,
    InvoiceShareLink,
    Posting,
)
from ledger.models.journal import stored_amount
from ledger.pdf import invoice_context
from tenants.models import Tenant


def _postings(*, as_of: datetime | None) -> QuerySet[Posting]:
    qs = Posting.objects.all()
    if as_of is not None:
        qs = qs.filter(transaction__booked_at__lt=as_of)
    return qs


def account_balance(*, code: str, as_of: datetime | None = None) -> dict[str, Decimal]:
    """Signed balance (debits positive) per currency of one account, optionally as of an instant."""
    rows = _postings(as_of=as_of).filter(account__code=code).values("currency").annotate(total=Sum("amount"))
    return {r["currency"]: stored_amount(r["total"]) for r in rows}


def balances_by_account(*, as_of: datetime | None = None) -> dict[str, dict[str, Decimal]]:
    """Every account's signed balance per currency (one GROUP BY)."""
    result: dict[str, dict[str, Decimal]] = {}
    rows = _postings(as_of=as_of).values("account__code", "currency").annotate(total=Sum("amount"))
    for r in rows:
        result.setdefault(r["account__code"], {})[r["currency"]] = stored_amount(r["total"])
    return result


def tenant_balances(*, tenant_id: int, as_of: datetime | None = None) -> dict[str, dict[str, Decimal]]:
    """Balances of the tenant's own accounts (receivable, prepaid credit) per currency."""
    result: dict[str, dict[str, Decimal]] = {}
    rows = (
        _postings(as_of=as_of)
        .filter(account__tenant_id=tenant_id)
        .values("account__code", "currency")
        .annotate(total=Sum("amount"))
    )
    for r in rows:
        result.setdefault(r["account__code"], {})[r["currency"]] = stored_amount(r["total"])
    return result


def trial_balance(*, as_of: datetime | None = None) -> dict[str, Decimal]:
    """Sum of every posting per currency: zero when the ledger balances."""
    rows = _postings(as_of=as_of).values("currency").annotate(total=Sum("amount"))
    return {r["currency"]: stored_amount(r["total"]) for r in rows}


def invoices_for_tenant(*, tenant_id: int) -> QuerySet[Invoice]:
    return Invoice.objects.filter(tenant_id=tenant_id).order_by("-period_start", "-id")


def invoice_get(*, tenant_id: int, invoice_id: int) -> Invoice | None:
    return Invoice.objects.filter(tenant_id=tenant_id, pk=invoice_id).prefetch_related("lines").first()


def accounts(*, tenant_id: int | None = None) -> QuerySet[Account]:
    return Account.objects.filter(Q(tenant_id=tenant_id) if tenant_id is not None else Q())


@dataclass(frozen=True)
class StoredDocument:
    """A rendered document as stored: its storage name (read it through default_storage), the SHA-256
    recorded when it was rendered, the name to download it as and its content type."""

    name: str
    sha256: str
    filename: str
    content_type: str


DOCUMENT_CONTENT_TYPES = {"pdf": "application/pdf", "xml": "application/xml"}


def invoice_document(*, tenant: Tenant, invoice_id: int, kind: str) -> StoredDocument | None:
    """The tenant's invoice's rendered PDF (`kind="pdf"`, the PDF/A-3 with its XML embedded) or its
    Factur-X XML (`kind="xml"`); None for another tenant's invoice, a draft or one not rendered yet."""
    if kind not in DOCUMENT_CONTENT_TYPES:
        return None
    row = (
        Invoice.objects.filter(tenant=tenant, pk=invoice_id, number__isnull=False)
        .values("number", f"{kind}_file", f"{kind}_sha256")
        .first()
    )
    if row is None or not row[f"{kind}_file"]:
        return None
    return StoredDocument(
        name=row[f"{kind}_file"],
        sha256=row[f"{kind}_sha256"],
        filename=f"{row['number']}.{kind}",
        content_type=DOCUMENT_CONTENT_TYPES[kind],
    )


def credit_note_document(*, tenant: Tenant, credit_note_id: int, kind: str) -> StoredDocument | None:
    """As `invoice_document`, for a credit note: its latest rendered CreditNoteDocument."""
    if kind not in DOCUMENT_CONTENT_TYPES:
        return None
    row = (
        CreditNoteDocument.objects.filter(credit_note__tenant=tenant, credit_note_id=credit_note_id)
        .order_by("-version")
        .values(f"{kind}_file", f"{kind}_sha256", number=F("credit_note__number"))
        .first()
    )
    if row is None:
        return None
    return StoredDocument(
        name=row[f"{kind}_file"],
        sha256=row[f"{kind}_sha256"],
        filename=f"{row['number']}.{kind}",
        content_type=DOCUMENT_CONTENT_TYPES[kind],
    )


# The customer portal's reads: every one takes the tenant and finds nothing of another tenant.

# What a customer filters invoices by (a blocked draft is a draft to the customer: why it is blocked is
# finance's business).
INVOICE_STATUS_FILTERS: dict[str, tuple[str, ...]] = {
    "draft": (Invoice.Status.DRAFT, Invoice.Status.BLOCKED),
    "finalized": (Invoice.Status.FINALIZED,),
    "paid": (Invoice.Status.PAID,),
    "void": (Invoice.Status.VOID,),
}


def tenant_invoices(*, tenant: Tenant, status: str = "", period_key: str = "") -> QuerySet[Invoice]:
    """The tenant's invoices, issued and drafts, newest period first; `status` one of
    `INVOICE_STATUS_FILTERS` (a draft includes a blocked one), `period_key` e.g. "2026-10" ("" = all)."""
    qs = Invoice.objects.filter(tenant=tenant)
    if status:
        qs = qs.filter(status__in=INVOICE_STATUS_FILTERS.get(status, ()))
    if period_key:
        qs = qs.filter(period_key=period_key)
    return qs.order_by("-period_start", "-id")


def tenant_invoice_periods(*, tenant: Tenant) -> list[str]:
    """The period keys the tenant has invoices for, newest first (the list's period filter)."""
    keys = Invoice.objects.filter(tenant=tenant).values_list("period_key", flat=True).distinct()
    return sorted(set(keys), reverse=True)


def tenant_invoice_get(*, tenant: Tenant, invoice_id: int) -> Invoice | None:
    return Invoice.objects.filter(tenant=tenant, pk=invoice_id).select_related("tenant").first()


def tenant_invoice_detail(*, tenant: Tenant, invoice_id: int) -> dict[str, Any] | None:
    """What the invoice's document shows (`ledger.pdf.invoice_context`: the same figures as the PDF, one
    road), with the ids the portal links by; None for another tenant's invoice."""
    invoice = tenant_invoice_get(tenant=tenant, invoice_id=invoice_id)
    if invoice is None:
        return None
    return invoice_context(invoice)


def tenant_invoice_line(
    *, tenant: Tenant, invoice_id: int, line_id: int, with_breakdown: bool = True
) -> InvoiceLine | None:
    """The tenant's invoice line; `with_breakdown=False` leaves its stored breakdown unread (a percentage
    line's holds a row per event: megabytes for a busy month)."""
    lines = InvoiceLine.objects.filter(invoice__tenant=tenant, invoice_id=invoice_id, pk=line_id)
    if not with_breakdown:
        lines = lines.defer("breakdown")
    return lines.select_related("invoice", "invoice__tenant", "corrects_invoice").first()


def tenant_share_links(*, tenant: Tenant, invoice_id: int) -> QuerySet[InvoiceShareLink]:
    """The share links of the tenant's invoice, newest first (revoked and expired ones included)."""
    return InvoiceShareLink.objects.filter(tenant=tenant, invoice__tenant=tenant, invoice_id=invoice_id)


# Disputes (ledger/services/disputes.py writes them): every read takes the tenant.


def disputes_for_tenant(*, tenant: Tenant) -> QuerySet[Dispute]:
    """The tenant's disputes, newest first, with what a list shows."""
    return (
        Dispute.objects.filter(tenant=tenant)
        .select_related("invoice", "line", "credit_note")
        .order_by("-created_at", "-id")
    )


def dispute_get(*, tenant: Tenant, dispute_id: int) -> Dispute | None:
    """One of the tenant's disputes with its timeline (`dispute.events`, oldest first); None otherwise."""
    return (
        disputes_for_tenant(tenant=tenant)
        .filter(pk=dispute_id)
        .prefetch_related(
            Prefetch("events", DisputeEvent.objects.select_related("actor").order_by("created_at", "id"))
        )
        .first()
    )


def dispute_target(
    *, tenant: Tenant, invoice_id: int, line_id: int | None = None
) -> tuple[Invoice, InvoiceLine | None] | None:
    """The tenant's issued invoice (and one of its lines) a dispute may be opened on; None otherwise."""
    invoice = (
        Invoice.objects.filter(
            tenant=tenant,
            pk=invoice_id,
            number__isnull=False,
            status__in=[Invoice.Status.FINALIZED, Invoice.Status.PAID],
        )
        .select_related("tenant")
        .first()
    )
    if invoice is None:
        return None
    if line_id is None:
        return invoice, None
    line = InvoiceLine.objects.filter(invoice=invoice, pk=line_id).first()
    return None if line is None else (invoice, line)


@dataclass(frozen=True)
class DisputeAttachment:
    """A dispute's stored attachment: storage name (read it through default_storage), download name, and
    the content type its bytes were recognised as."""

    name: str
    filename: str
    content_type: str


def dispute_attachment(*, tenant: Tenant, dispute_id: int) -> DisputeAttachment | None:
    row = (
        Dispute.objects.filter(tenant=tenant, pk=dispute_id)
        .exclude(attachment="")
        .values("attachment", "attachment_name", "attachment_type")
        .first()
    )
    if row is None:
        return None
    return DisputeAttachment(
        name=row["attachment"],
        filename=row["attachment_name"] or "attachment",
        content_type=row["attachment_type"],
    )


# Finance's disputes queue: every tenant's disputes (finance is platform-wide; portal.finance.access).


def disputes_queue(*, statuses: Sequence[str] | None = None) -> QuerySet[Dispute]:
    """Disputes of every tenant for finance, the oldest first, each with `last_customer_at`: when the
    customer last wrote (its opening or a comment, the newest of its events not by finance)."""
    qs = Dispute.objects.all()
    if statuses:
        qs = qs.filter(status__in=list(statuses))
    return (
        qs.select_related("tenant", "invoice", "line", "credit_note")
        .annotate(last_customer_at=Max("events__created_at", filter=Q(events__by_finance=False)))
        .order_by("created_at", "id")
    )


def dispute_for_finance(*, dispute_id: int) -> Dispute | None:
    """One dispute of any tenant with its timeline, for finance's decision page; None when there is none."""
    return (
        disputes_queue()
        .filter(pk=dispute_id)
        .prefetch_related(
            Prefetch("events", DisputeEvent.objects.select_related("actor").order_by("created_at", "id"))
        )
        .first()
    )
