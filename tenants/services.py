"""Writes for tenants, memberships and API keys. One function per use case, each transactional."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils import timezone
from guardian.shortcuts import assign_perm

from common.errors import Conflict, FieldIssue, ValidationFailed
from common.money import is_known_currency

from .models import CUSTOMER_ROLES, ApiKey, Membership, Project, Role, Tenant, validate_timezone

API_KEY_LIVE_PREFIX = "bk_"
# last_used_at is advisory: write it at most this often per key so hot ingest paths do not contend.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def tenant_create(
    *,
    slug: str,
    name: str,
    currency: str,
    country: str,
    tax_jurisdiction: str | None = None,
    timezone_name: str = "UTC",
) -> Tenant:
    issues: list[FieldIssue] = []
    currency = currency.upper()
    country = country.upper()
    if not is_known_currency(currency):
        issues.append(FieldIssue("currency", f"unknown ISO 4217 currency {currency!r}"))
    if len(country) != 2 or not country.isalpha():
        issues.append(FieldIssue("country", "must be an ISO 3166-1 alpha-2 code"))
    try:
        validate_timezone(timezone_name)
    except DjangoValidationError:
        issues.append(FieldIssue("timezone", f"unknown time zone {timezone_name!r}"))
    if issues:
        raise ValidationFailed("invalid tenant", issues=issues)
    with transaction.atomic():
        if Tenant.objects.filter(slug=slug).exists():
            raise Conflict(f"tenant {slug!r} already exists")
        return Tenant.objects.create(
            slug=slug,
            name=name,
            currency=currency,
            country=country,
            tax_jurisdiction=(tax_jurisdiction or country).upper(),
            timezone=timezone_name,
        )


def project_create(*, tenant: Tenant, code: str, name: str, cost_center: str = "") -> Project:
    with transaction.atomic():
        project, _ = Project.objects.get_or_create(
            tenant=tenant, code=code, defaults={"name": name, "cost_center": cost_center}
        )
        return project


def membership_grant(*, user: User, role: Role, tenant: Tenant | None = None) -> Membership:
    """Give a user a role. Customer roles need a tenant and also grant the guardian object permission
    `view_tenant_billing` on that tenant; finance roles are platform-wide."""
    if (role in CUSTOMER_ROLES) != (tenant is not None):
        raise ValidationFailed(
            "customer roles need a tenant; finance roles must not have one",
            issues=[FieldIssue("tenant", "does not match the role")],
        )
    with transaction.atomic():
        membership, _ = Membership.objects.get_or_create(user=user, tenant=tenant, role=role)
        if tenant is not None:
            assign_perm("tenants.view_tenant_billing", user, tenant)
        return membership


@dataclass(frozen=True)
class IssuedKey:
    api_key: ApiKey
    secret: str  # shown once, never stored


def hash_api_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def api_key_create(*, tenant: Tenant | None, name: str = "", created_by: User | None = None) -> IssuedKey:
    """Create a key for one tenant, or a platform key when tenant is None."""
    prefix = secrets.token_hex(6)
    secret = f"{API_KEY_LIVE_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        key = ApiKey.objects.create(
            name=name,
            prefix=prefix,
            key_hash=hash_api_key(secret),
            scope=ApiKey.Scope.TENANT if tenant else ApiKey.Scope.PLATFORM,
            tenant=tenant,
            created_by=created_by if created_by is not None and created_by.pk else None,
        )
    return IssuedKey(api_key=key, secret=secret)


def api_key_authenticate(*, secret: str) -> ApiKey | None:
    """The active key matching `secret`, or None. Compares hashes, so timing reveals nothing useful."""
    if not secret.startswith(API_KEY_LIVE_PREFIX):
        return None
    key = (
        ApiKey.objects.select_related("tenant")
        .filter(key_hash=hash_api_key(secret), revoked_at__isnull=True)
        .first()
    )
    if key is None:
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    with transaction.atomic():
        locked = ApiKey.objects.select_for_update().get(pk=api_key.pk)
        if locked.revoked_at is None:
            locked.revoked_at = timezone.now()
            locked.save(update_fields=["revoked_at"])
        return locked
