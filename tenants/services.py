"""Writes for tenants, memberships and API keys. One function per use case, each transactional."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.apps import apps
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission, User
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils import timezone
from guardian.shortcuts import assign_perm

from common.errors import Conflict, FieldIssue, ValidationFailed
from common.money import is_known_currency

from .models import (
    CUSTOMER_ROLES,
    FINANCE_ROLES,
    ApiKey,
    Membership,
    Project,
    Role,
    Tenant,
    validate_timezone,
)

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
    `view_tenant_billing` on that tenant; finance roles are platform-wide, and their work happens in the
    admin: the user becomes staff and a member of the role's group (`ROLE_GROUPS`)."""
    if (role in CUSTOMER_ROLES) != (tenant is not None):
        raise ValidationFailed(
            "customer roles need a tenant; finance roles must not have one",
            issues=[FieldIssue("tenant", "does not match the role")],
        )
    with transaction.atomic():
        membership, _ = Membership.objects.get_or_create(user=user, tenant=tenant, role=role)
        if tenant is not None:
            assign_perm("tenants.view_tenant_billing", user, tenant)
        else:
            membership_groups_sync(user=user)
        return membership


# --- Admin role groups ------------------------------------------------------------------------------
# What each finance role may do in the admin, as Django model permissions on groups named after the roles.
# The groups follow the memberships (`membership_groups_sync`): change a user's role, not the group.
# Workflow rules stay in the services (four eyes, frozen versions, signed FX rates): a model permission
# only opens the admin page, whose rows out of draft are read-only anyway.

ROLE_GROUPS: dict[Role, str] = {
    Role.FINANCE_VIEWER: "finance viewer",
    Role.FINANCE_EDITOR: "finance editor",
    Role.FINANCE_APPROVER: "finance approver",
}
# Everything billing and the ledger hold, read-only: no users, groups, memberships or API keys.
FINANCE_VIEWABLE_MODELS = (
    "tenants.tenant",
    "tenants.project",
    "billing.meter",
    "billing.sku",
    "billing.billingprofile",
    "billing.profileversion",
    "billing.profileassignment",
    "billing.approvalrequest",  # with its backtest, required approvals and matched rules
    "billing.approval",  # signed, append-only
    "billing.taxrule",
    "billing.exchangerate",
    "billing.usageevent",  # quarantined events included
    "billing.ratingbatch",
    "billing.usageaggregate",
    "ledger.invoice",
    "ledger.invoiceline",
    "ledger.creditnote",
    "ledger.creditnoteline",
    "ledger.transaction",
    "ledger.posting",
    "ledger.account",
    "ledger.creditgrant",
    "ledger.creditconsumption",
    "ledger.creditrestoration",
    "ledger.creditexpiry",
    "ledger.alert",
)
# Drafts of pricing: profiles and their versions, assignments, tax rules, FX rates (add and change).
FINANCE_EDITABLE_MODELS = (
    "billing.billingprofile",
    "billing.profileversion",
    "billing.profileassignment",
    "billing.taxrule",
    "billing.exchangerate",
)


def _codenames(actions: tuple[str, ...], labels: tuple[str, ...]) -> set[str]:
    """`app_label.action_model` for each action and model label."""
    return {f"{label.split('.')[0]}.{action}_{label.split('.')[1]}" for action in actions for label in labels}


# What only an approver changes: approval requests (deciding on one). The decision itself is a service
# (billing.governance.approvals: four eyes, signatures) that checks the role again, not this permission.
FINANCE_APPROVER_MODELS = ("billing.approvalrequest",)

_VIEWER = _codenames(("view",), FINANCE_VIEWABLE_MODELS)
_EDITOR = _VIEWER | _codenames(("add", "change"), FINANCE_EDITABLE_MODELS)
# The profile services let an approver draft as an editor does.
_APPROVER = _EDITOR | _codenames(("change",), FINANCE_APPROVER_MODELS)
ROLE_PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.FINANCE_VIEWER: frozenset(_VIEWER),
    Role.FINANCE_EDITOR: frozenset(_EDITOR),
    Role.FINANCE_APPROVER: frozenset(_APPROVER),
}


def role_groups_ensure() -> dict[Role, Group]:
    """Create the finance role groups and set each one's permissions to exactly `ROLE_PERMISSIONS`.
    Idempotent; run after every `migrate` (tenants.apps) and by `seed_demo`. Creates the permissions of
    the apps it names first, so it works on a fresh database before their own post_migrate has run."""
    for label in {name.split(".")[0] for name in FINANCE_VIEWABLE_MODELS}:
        create_permissions(apps.get_app_config(label), verbosity=0)
    groups: dict[Role, Group] = {}
    with transaction.atomic():
        for role, name in ROLE_GROUPS.items():
            group, _ = Group.objects.get_or_create(name=name)
            wanted = ROLE_PERMISSIONS[role]
            permissions = [
                p
                for p in Permission.objects.filter(
                    content_type__app_label__in={c.split(".")[0] for c in wanted},
                    codename__in={c.split(".")[1] for c in wanted},
                ).select_related("content_type")
                if f"{p.content_type.app_label}.{p.codename}" in wanted
            ]
            missing = wanted - {f"{p.content_type.app_label}.{p.codename}" for p in permissions}
            if missing:
                raise LookupError(f"permissions missing for group {name!r}: {sorted(missing)}")
            group.permissions.set(permissions)
            groups[role] = group
    return groups


def membership_groups_sync(*, user: User) -> None:
    """Make `user`'s role groups match their finance memberships; a finance role makes the user staff
    (the admin is where finance works). Staff status is never taken away here: other duties may need it."""
    held = set(
        Membership.objects.filter(user=user, tenant__isnull=True, role__in=FINANCE_ROLES).values_list(
            "role", flat=True
        )
    )
    with transaction.atomic():
        groups = {g.name: g for g in Group.objects.filter(name__in=ROLE_GROUPS.values())}
        if len(groups) != len(ROLE_GROUPS):
            groups = {g.name: g for g in role_groups_ensure().values()}
        for role, name in ROLE_GROUPS.items():
            if role in held:
                user.groups.add(groups[name])
            else:
                user.groups.remove(groups[name])
        if held and not user.is_staff:
            user.is_staff = True
            user.save(update_fields=["is_staff"])


def role_groups_sync() -> None:
    """`role_groups_ensure`, then every user's role groups from the memberships (after `migrate`, so a
    database whose finance users predate the groups gets them)."""
    role_groups_ensure()
    members = User.objects.filter(memberships__role__in=FINANCE_ROLES) | User.objects.filter(
        groups__name__in=ROLE_GROUPS.values()
    )
    for user in members.distinct():
        membership_groups_sync(user=user)


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
