"""Signed, expiring share links to one issued invoice (a hosted invoice page anyone with the link reads).

The token is `secrets.token_urlsafe(32)` (256 random bits), handed out once by `invoice_share_link_create`;
only its SHA-256 is stored, so a database reader cannot rebuild a link. A link lives `days` days (at most
`MAX_DAYS`) and can be revoked; `invoice_share_link_resolve` answers None alike for an unknown, revoked or
expired token (the public page's 404 says nothing about which)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from common.errors import NotFound, PermissionDenied, StateError, ValidationFailed
from ledger.models import Invoice, InvoiceShareLink
from tenants.models import Role, Tenant
from tenants.selectors import user_is_customer_of, user_is_finance

DEFAULT_DAYS = 14
MAX_DAYS = 90


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class CreatedShareLink:
    """The stored link and its token (shown once: only its digest is kept)."""

    link: InvoiceShareLink
    token: str


def invoice_share_link_create(
    *, invoice: Invoice, tenant: Tenant, user: User, days: int = DEFAULT_DAYS
) -> CreatedShareLink:
    """A new link to the tenant's issued invoice, valid `days` days (1 to MAX_DAYS). Only the customer's
    own users publish its invoice (finance, who sees every tenant, does not)."""
    if not user_is_customer_of(user=user, tenant_id=tenant.pk):
        raise PermissionDenied("only the customer's own users may share its invoices")
    if not 1 <= days <= MAX_DAYS:
        raise ValidationFailed(f"a share link lives 1 to {MAX_DAYS} days, not {days}")
    with transaction.atomic():
        locked = Invoice.objects.filter(pk=invoice.pk, tenant=tenant).first()
        if locked is None:
            raise NotFound("no such invoice")
        if not locked.is_issued:
            raise StateError("a draft cannot be shared: it may still change")
        token = secrets.token_urlsafe(32)
        now = timezone.now()
        link = InvoiceShareLink.objects.create(
            invoice=locked,
            tenant=tenant,
            token_sha256=token_digest(token),
            created_by=user,
            created_at=now,
            expires_at=now + timedelta(days=days),
        )
    return CreatedShareLink(link=link, token=token)


def invoice_share_link_revoke(*, link: InvoiceShareLink, tenant: Tenant, user: User) -> InvoiceShareLink:
    """Revokes the tenant's link (revoking twice keeps the first instant): its customer's users, or
    finance editors and approvers (taking a leaked link down is a safety move)."""
    if not (
        user_is_customer_of(user=user, tenant_id=tenant.pk)
        or user_is_finance(user=user, roles=frozenset({Role.FINANCE_EDITOR, Role.FINANCE_APPROVER}))
    ):
        raise PermissionDenied("only the customer's users or finance may revoke a share link")
    with transaction.atomic():
        locked = InvoiceShareLink.objects.select_for_update().filter(pk=link.pk, tenant=tenant).first()
        if locked is None:
            raise NotFound("no such share link")
        if locked.revoked_at is None:
            locked.revoked_at = timezone.now()
            locked.save(update_fields=["revoked_at"])
    return locked


def invoice_share_link_resolve(*, token: str) -> InvoiceShareLink | None:
    """The live link of `token` (its invoice and tenant loaded) and its use recorded; None when the token
    is unknown, revoked or expired."""
    if not token or len(token) > 128:
        return None
    now = timezone.now()
    with transaction.atomic():
        link = (
            InvoiceShareLink.objects.select_for_update(of=("self",))
            .select_related("invoice", "invoice__tenant")
            .filter(token_sha256=token_digest(token), revoked_at__isnull=True, expires_at__gt=now)
            .first()
        )
        if link is None or link.invoice.tenant_id != link.tenant_id:
            return None
        link.last_used_at = now
        link.save(update_fields=["last_used_at"])
    return link
