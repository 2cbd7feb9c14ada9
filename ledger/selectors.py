"""Reads over the ledger. Balances are SQL aggregations (SUM over postings joined to transactions),
served by the (account, transaction) index; nothing is summed in Python."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import F, Q, QuerySet, Sum

from ledger.models import Account, CreditNoteDocument, Invoice, Posting
from ledger.models.journal import stored_amount
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
