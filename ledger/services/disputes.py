"""Disputes: a customer questions an issued invoice or one of its lines; finance takes it under review and
decides it, rejected with a reason or resolved with a credit note. The moves (ledger/models/disputes.py):

    open --dispute_review--> under_review
    open | under_review --dispute_reject(reason)--> rejected
    open | under_review --dispute_resolve(in full | amount | lines)--> resolved (credit note issued and linked)
    open | under_review --dispute_withdraw--> withdrawn
    open | under_review --dispute_comment--> unchanged (a timeline entry)

Each service is one transaction that locks the dispute row (two finance users deciding at once: one wins,
the other gets a StateError) and writes one DisputeEvent; the database guard (ledger 0010) refuses any
other move and any change of a decided dispute. Customers act on disputes of the tenants they may see;
deciding needs a finance editor or approver.

The optional attachment is checked by its content (magic bytes; text must be UTF-8), never by its name,
at most `DISPUTE_ATTACHMENT_MAX_BYTES`, and stored privately under `private/disputes/<tenant_id>/<uuid>`
(served only by the portal's tenant-scoped view, as an attachment)."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from common import metrics
from common.errors import NotFound, PermissionDenied, StateError, ValidationFailed
from common.money import quantize_money
from ledger.audit.services import audit_record, audit_snapshot
from ledger.models import CreditNote, Dispute, DisputeEvent, Invoice, InvoiceLine
from ledger.models.journal import stored_amount
from ledger.services.credit_notes import credit_note_create, credited_by_line
from ledger.services.revenue import allocate
from tenants.models import Role, Tenant
from tenants.selectors import tenants_visible_to, user_is_customer_of, user_is_finance

User = AbstractBaseUser | AnonymousUser

DISPUTABLE_STATUSES = (Invoice.Status.FINALIZED, Invoice.Status.PAID)
DECIDING_ROLES = frozenset({Role.FINANCE_EDITOR, Role.FINANCE_APPROVER})
MESSAGE_MAX_CHARS = 5000
ATTACHMENT_PREFIX = "private/disputes"

# (content type, leading bytes) of the binary types accepted; text is recognised by decoding.
_MAGIC = (
    ("application/pdf", b"%PDF-"),
    ("image/png", b"\x89PNG\r\n\x1a\n"),
    ("image/jpeg", b"\xff\xd8\xff"),
)
_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_FILENAME_UNSAFE = re.compile(r"[^\w.\- ]+")


@dataclass(frozen=True, slots=True)
class StoredAttachment:
    name: str  # storage name
    filename: str  # as the customer named it (cleaned)
    content_type: str


def dispute_user_may_decide(*, user: User) -> bool:
    """Finance editors and approvers decide disputes; finance viewers only read them."""
    return user_is_finance(user=user, roles=DECIDING_ROLES)


def _user_id(user: User) -> int:
    if not user.is_authenticated or user.pk is None:
        raise PermissionDenied("sign in first")
    return int(user.pk)


def _require_decider(user: User) -> None:
    if not dispute_user_may_decide(user=user):
        raise PermissionDenied("only finance decides disputes")


def _require_tenant_access(user: User, tenant_id: int) -> None:
    if not tenants_visible_to(user=user).filter(pk=tenant_id).exists():
        raise NotFound("no such dispute")


def _require_customer(user: User, tenant_id: int, action: str) -> None:
    """Moves that speak for the customer: only its own users (finance sees the tenant, but is not it)."""
    _require_tenant_access(user, tenant_id)
    if not user_is_customer_of(user=user, tenant_id=tenant_id):
        raise PermissionDenied(f"only the customer's own users may {action}")


def _message(text: str, *, what: str = "a message") -> str:
    text = (text or "").strip()
    if not text:
        raise ValidationFailed(f"{what} is required")
    if len(text) > MESSAGE_MAX_CHARS:
        raise ValidationFailed(f"{what} is at most {MESSAGE_MAX_CHARS} characters")
    return text


def attachment_content_type(data: bytes, filename: str) -> str:
    """The accepted type of `data` judged by its bytes; `filename` only tells CSV from plain text (both
    are UTF-8 text). Anything else: ValidationFailed."""
    for content_type, magic in _MAGIC:
        if data.startswith(magic):
            return content_type
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = None
    if text is not None and not _TEXT_CONTROL.search(text):
        return "text/csv" if filename.lower().endswith(".csv") else "text/plain"
    raise ValidationFailed("the attachment must be a PDF, PNG, JPEG, plain text or CSV file")


def _clean_filename(name: str) -> str:
    base = os.path.basename((name or "").replace("\\", "/")).strip()
    base = _FILENAME_UNSAFE.sub("_", base)[:120].strip("._ ")
    return base or "attachment"


def attachment_store(*, tenant: Tenant, upload: File) -> StoredAttachment:  # type: ignore[type-arg]
    """Check one upload (size, type by content) and store it privately; returns where it went."""
    limit = settings.DISPUTE_ATTACHMENT_MAX_BYTES
    if upload.size is not None and upload.size > limit:
        raise ValidationFailed(f"the attachment is larger than {limit // (1024 * 1024)} MB")
    upload.seek(0)
    data = upload.read(limit + 1)
    if len(data) > limit:
        raise ValidationFailed(f"the attachment is larger than {limit // (1024 * 1024)} MB")
    if not data:
        raise ValidationFailed("the attachment is empty")
    filename = _clean_filename(upload.name or "")
    content_type = attachment_content_type(data, filename)
    wanted = f"{ATTACHMENT_PREFIX}/{tenant.pk}/{uuid.uuid4().hex}"
    name = default_storage.save(wanted, ContentFile(data))
    return StoredAttachment(name=name, filename=filename, content_type=content_type)


def _event(dispute: Dispute, kind: str, user: User, message: str, now: datetime) -> DisputeEvent:
    return DisputeEvent.objects.create(
        dispute=dispute,
        kind=kind,
        message=message,
        actor_id=_user_id(user),
        by_finance=user_is_finance(user=user),
        created_at=now,
    )


_AUDITED = ("status", "outcome", "credit_note", "decided_by", "decided_at")


def _snapshot(dispute: Dispute) -> dict[str, object]:
    return audit_snapshot(dispute, fields=_AUDITED)


def _audit(dispute: Dispute, action: str, user: User, before: dict[str, object] | None, reason: str) -> None:
    """The dispute's move in the audit trail (ledger.audit), last in the move's transaction."""
    after = _snapshot(dispute)
    note = dispute.credit_note
    if note is not None:
        after |= {
            "credit_note_number": note.number,
            "credit_subtotal": note.subtotal,
            "credit_total": note.total,
        }
    audit_record(
        actor=user, action=f"dispute.{action}", obj=dispute, before=before, after=after, reason=reason
    )


def dispute_open(
    *,
    tenant: Tenant,
    invoice: Invoice,
    line: InvoiceLine | None = None,
    reason: str,
    message: str,
    attachment: File | None = None,  # type: ignore[type-arg]
    user: User,
    now: datetime | None = None,
) -> Dispute:
    """Open a dispute on the tenant's issued invoice, or on one of its lines. One open dispute per line
    (and per whole invoice) at a time: a second is refused while the first is open or under review."""
    now = now or timezone.now()
    _require_customer(user, tenant.pk, "open a dispute")
    if reason not in Dispute.Reason.values:
        raise ValidationFailed("choose a reason")
    text = _message(message)
    stored: StoredAttachment | None = None
    try:
        with transaction.atomic():
            # The invoice row is the lock that serializes two openings of the same line.
            locked = Invoice.objects.select_for_update().filter(pk=invoice.pk, tenant=tenant).first()
            if locked is None:
                raise NotFound("no such invoice")
            if locked.status not in DISPUTABLE_STATUSES or not locked.number:
                raise StateError(f"only an issued invoice can be disputed (it is {locked.status})")
            if line is not None and line.invoice_id != locked.pk:
                raise NotFound("no such line on this invoice")
            open_ones = Dispute.objects.filter(invoice=locked, status__in=Dispute.OPEN_STATUSES)
            if open_ones.filter(line=line).exists():
                what = "this line" if line is not None else "this invoice"
                raise StateError(f"{what} already has an open dispute")
            if attachment is not None:
                stored = attachment_store(tenant=tenant, upload=attachment)
            dispute = Dispute.objects.create(
                tenant=tenant,
                invoice=locked,
                line=line,
                reason=reason,
                message=text,
                attachment=stored.name if stored else "",
                attachment_name=stored.filename if stored else "",
                attachment_type=stored.content_type if stored else "",
                opened_by_id=_user_id(user),
                created_at=now,
            )
            _event(dispute, DisputeEvent.Kind.OPENED, user, text, now)
            _audit(dispute, "open", user, None, text)
            transaction.on_commit(metrics.DISPUTES_OPENED.labels(reason=reason).inc)
    except Exception:
        if stored is not None:
            default_storage.delete(stored.name)
        raise
    return dispute


def _locked(dispute: Dispute) -> Dispute:
    locked = (
        Dispute.objects.select_for_update(of=("self",)).select_related("invoice", "line").get(pk=dispute.pk)
    )
    if not locked.is_open:
        raise StateError(f"the dispute is {locked.get_status_display().lower()}: it is closed")
    return locked


def dispute_comment(
    *, dispute: Dispute, message: str, user: User, now: datetime | None = None
) -> DisputeEvent:
    """Add a message to an open dispute's timeline (the customer or finance)."""
    now = now or timezone.now()
    _require_tenant_access(user, dispute.tenant_id)
    if not user_is_customer_of(user=user, tenant_id=dispute.tenant_id):
        _require_decider(user)  # finance comments only as those who decide (not a read-only viewer)
    text = _message(message)
    with transaction.atomic():
        locked = _locked(dispute)
        return _event(locked, DisputeEvent.Kind.COMMENT, user, text, now)


def dispute_withdraw(
    *, dispute: Dispute, user: User, message: str = "", now: datetime | None = None
) -> Dispute:
    """The customer takes its dispute back (open or under review)."""
    now = now or timezone.now()
    _require_customer(user, dispute.tenant_id, "withdraw a dispute")
    with transaction.atomic():
        locked = _locked(dispute)
        before = _snapshot(locked)
        locked.status = Dispute.Status.WITHDRAWN
        locked.save(update_fields=["status"])
        _event(locked, DisputeEvent.Kind.WITHDRAWN, user, (message or "").strip(), now)
        _audit(locked, "withdraw", user, before, (message or "").strip())
    return locked


def dispute_review(
    *, dispute: Dispute, user: User, message: str = "", now: datetime | None = None
) -> Dispute:
    """Finance takes an open dispute under review."""
    now = now or timezone.now()
    _require_decider(user)
    with transaction.atomic():
        locked = _locked(dispute)
        if locked.status != Dispute.Status.OPEN:
            raise StateError("the dispute is already under review")
        before = _snapshot(locked)
        locked.status = Dispute.Status.UNDER_REVIEW
        locked.save(update_fields=["status"])
        _event(locked, DisputeEvent.Kind.UNDER_REVIEW, user, (message or "").strip(), now)
        _audit(locked, "review", user, before, (message or "").strip())
    return locked


def dispute_reject(*, dispute: Dispute, reason: str, user: User, now: datetime | None = None) -> Dispute:
    """Finance rejects the dispute; the reason is its outcome, shown to the customer."""
    now = now or timezone.now()
    _require_decider(user)
    text = _message(reason, what="a reason")
    with transaction.atomic():
        locked = _locked(dispute)
        before = _snapshot(locked)
        locked.status = Dispute.Status.REJECTED
        locked.outcome = text
        locked.decided_by_id = _user_id(user)
        locked.decided_at = now
        locked.save(update_fields=["status", "outcome", "decided_by", "decided_at"])
        _event(locked, DisputeEvent.Kind.REJECTED, user, text, now)
        _audit(locked, "reject", user, before, text)
    return locked


@dataclass(frozen=True, slots=True)
class CreditableLine:
    """One charged line of an invoice and what is left to credit on it (before tax on an exclusive
    invoice): its amount less what earlier credit notes credited on it."""

    line: InvoiceLine
    left: Decimal


def dispute_credit_left(*, invoice: Invoice) -> list[CreditableLine]:
    """The invoice's charged lines in their order, each with what is left to credit."""
    credited = credited_by_line(invoice)
    return [
        CreditableLine(
            line=line, left=quantize_money(line.amount - credited.get(line.pk, Decimal(0)), invoice.currency)
        )
        for line in invoice.lines.filter(amount__gt=0).order_by("position", "pk")
    ]


def invoice_left_to_credit(*, invoice: Invoice) -> Decimal:
    """What is left to credit on the whole invoice (before tax on an exclusive invoice): its subtotal less
    its credit notes' (discount lines included, so less than the sum of what is left on its charged lines
    when it has discounts)."""
    credited_sub = stored_amount(invoice.credit_notes.aggregate(s=Sum("subtotal"))["s"])
    return quantize_money(invoice.subtotal - credited_sub, invoice.currency)


def _too_much(amount: Decimal, left: Decimal, where: str, currency: str) -> ValidationFailed:
    return ValidationFailed(
        f"{amount} {currency} is more than was invoiced less earlier credit notes: "
        f"{left} {currency} is left to credit on {where}"
    )


def _whole_invoice_lines(invoice: Invoice, amount: Decimal | None) -> list[tuple[int, Decimal]] | None:
    """A whole-invoice credit of `amount` (the invoice's line amounts, before tax for exclusive tax): None
    (a full credit note) when it is all that is left (or `amount` is None: in full), else spread over the
    charged lines pro rata to what is left of each."""
    left_total = invoice_left_to_credit(invoice=invoice)
    if amount is None or amount == left_total:
        return None
    if amount > left_total:
        raise _too_much(amount, left_total, "this invoice", invoice.currency)
    left = [(c.line.pk, c.left) for c in dispute_credit_left(invoice=invoice) if c.left > 0]
    shares = allocate(amount, [rest for _, rest in left], invoice.currency)
    return [(pk, share) for (pk, _), share in zip(left, shares, strict=True) if share > 0]


def _chosen_lines(invoice: Invoice, chosen: Sequence[tuple[int, Decimal]]) -> list[tuple[int, Decimal]]:
    """Finance's chosen lines with amounts, each checked against what is left on it (one message naming
    the line, before the credit note service refuses it less clearly)."""
    left = {c.line.pk: c for c in dispute_credit_left(invoice=invoice)}
    seen: set[int] = set()
    picked: list[tuple[int, Decimal]] = []
    for line_id, amount in chosen:
        found = left.get(line_id)
        if found is None:
            raise ValidationFailed(f"line {line_id} is not a charged line of invoice {invoice.number}")
        if line_id in seen:
            raise ValidationFailed(f"line {found.line.position} is chosen twice")
        seen.add(line_id)
        _check_amount(amount, invoice.currency)
        if amount > found.left:
            raise _too_much(amount, found.left, f"line {found.line.position}", invoice.currency)
        picked.append((line_id, amount))
    if not picked:
        raise ValidationFailed("choose at least one line to credit")
    return picked


def _check_amount(amount: Decimal, currency: str) -> None:
    if amount <= 0 or quantize_money(amount, currency) != amount:
        raise ValidationFailed("the credit is a positive amount in the currency's minor unit")


def dispute_resolve(
    *,
    dispute: Dispute,
    user: User,
    note: str,
    amount: Decimal | None = None,
    lines: Sequence[tuple[int, Decimal]] | None = None,
    whole_invoice: bool = False,
    now: datetime | None = None,
) -> Dispute:
    """Finance accepts the dispute, in full or in part, with a credit note (ledger.services.credit_notes:
    posted to the ledger, VAT per rate over the credited amounts, BR-CO-17). Amounts are the invoice's line
    amounts (before tax on an exclusive invoice, tax added at the line's rate):

    - `amount`: that much against the disputed line, or against the whole invoice (a dispute on the
      invoice, or `whole_invoice=True`: all of what is left is a full credit note, less is spread over its
      lines pro rata);
    - `lines`: (invoice line id, amount) pairs finance chose, on any charged lines of the invoice;
    - neither: in full, all that is left to credit on the disputed line (or on the whole invoice).

    More than is left to credit is refused with a message saying how much is left."""
    now = now or timezone.now()
    _require_decider(user)
    text = _message(note, what="a note")
    if amount is not None and lines is not None:
        raise ValidationFailed("give an amount or chosen lines, not both")
    with transaction.atomic():
        locked = _locked(dispute)
        before = _snapshot(locked)
        invoice = locked.invoice
        if amount is not None:
            _check_amount(amount, invoice.currency)
        picked: list[tuple[int, Decimal]] | None
        if lines is not None:
            picked = _chosen_lines(invoice, lines)
        elif locked.line is not None and not whole_invoice:
            left = next(
                (c.left for c in dispute_credit_left(invoice=invoice) if c.line.pk == locked.line.pk), None
            )
            left = Decimal(0) if left is None else left
            wanted = left if amount is None else amount
            if wanted > left or left <= 0:
                raise _too_much(wanted, left, f"line {locked.line.position}", invoice.currency)
            picked = [(locked.line.pk, wanted)]
        else:
            picked = _whole_invoice_lines(invoice, amount)
        note_row = credit_note_create(
            invoice=invoice, reason=f"dispute {locked.pk}: {text}", lines=picked, now=now, actor=user
        )
        assert isinstance(note_row, CreditNote)
        locked.status = Dispute.Status.RESOLVED
        locked.credit_note = note_row
        locked.outcome = text
        locked.decided_by_id = _user_id(user)
        locked.decided_at = now
        locked.save(update_fields=["status", "credit_note", "outcome", "decided_by", "decided_at"])
        _event(locked, DisputeEvent.Kind.RESOLVED, user, f"{text} (credit note {note_row.number})", now)
        _audit(locked, "resolve", user, before, text)
    return locked
