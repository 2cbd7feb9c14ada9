"""Reads about tenants and who may see what."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet
from guardian.shortcuts import get_objects_for_user

from .models import CUSTOMER_ROLES, FINANCE_ROLES, Membership, Project, Role, Tenant


def tenant_get(*, slug: str) -> Tenant | None:
    return Tenant.objects.filter(slug=slug).first()


def project_get(*, tenant: Tenant, code: str) -> Project | None:
    """One of the tenant's projects by its code (another tenant's project of that code: None)."""
    return Project.objects.filter(tenant=tenant, code=code).first()


def user_roles(*, user: AbstractBaseUser | AnonymousUser) -> set[str]:
    if not user.is_authenticated:
        return set()
    return set(Membership.objects.filter(user_id=user.pk).values_list("role", flat=True))


def user_is_finance(
    *, user: AbstractBaseUser | AnonymousUser, roles: frozenset[Role] = FINANCE_ROLES
) -> bool:
    return bool(user_roles(user=user) & {r.value for r in roles})


def user_is_customer_of(*, user: AbstractBaseUser | AnonymousUser, tenant_id: int) -> bool:
    """Whether the user acts for the tenant as its customer (a customer role on that tenant): the moves
    that speak for the customer (open or withdraw a dispute, share an invoice) are theirs alone, not
    finance's, who may see every tenant."""
    if not user.is_authenticated:
        return False
    return Membership.objects.filter(
        user_id=user.pk, tenant_id=tenant_id, role__in=[r.value for r in CUSTOMER_ROLES]
    ).exists()


def user_is_customer_admin_of(*, user: AbstractBaseUser | AnonymousUser, tenant_id: int) -> bool:
    """Whether the user is a customer admin of the tenant: who changes the tenant's own settings (budget,
    webhook endpoints); its customer viewers read them."""
    if not user.is_authenticated:
        return False
    return Membership.objects.filter(user_id=user.pk, tenant_id=tenant_id, role=Role.CUSTOMER_ADMIN).exists()


def tenants_visible_to(
    *, user: AbstractBaseUser | AnonymousUser, is_finance: bool | None = None
) -> QuerySet[Tenant]:
    """Finance sees every tenant; a customer sees the tenants it holds `view_tenant_billing` on.
    `is_finance`: what `user_is_finance` said of the user, when the caller has asked it already."""
    if not user.is_authenticated:
        return Tenant.objects.none()
    if user_is_finance(user=user) if is_finance is None else is_finance:
        return Tenant.objects.all()
    return get_objects_for_user(user, "tenants.view_tenant_billing", klass=Tenant, accept_global_perms=False)
