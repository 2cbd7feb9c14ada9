"""Factories for the tenants app: users, tenants, projects and memberships."""

from __future__ import annotations

from typing import Any

import factory
from django.contrib.auth.models import User
from factory.django import DjangoModelFactory

from tenants.models import Membership, Project, Role, Tenant
from tenants.services import membership_grant


class UserFactory(DjangoModelFactory[User]):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.test")
    password = factory.django.Password("pw-for-tests")


class TenantFactory(DjangoModelFactory[Tenant]):
    class Meta:
        model = Tenant
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"tenant-{n}")
    name = factory.LazyAttribute(lambda t: t.slug.replace("-", " ").title())
    country = "DE"
    tax_jurisdiction = "DE"
    currency = "EUR"
    timezone = "UTC"


class ProjectFactory(DjangoModelFactory[Project]):
    class Meta:
        model = Project

    tenant = factory.SubFactory(TenantFactory)
    code = factory.Sequence(lambda n: f"proj-{n}")
    name = factory.LazyAttribute(lambda p: p.code)


class MembershipFactory(DjangoModelFactory[Membership]):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    role = Role.CUSTOMER_VIEWER
    tenant = factory.SubFactory(TenantFactory)


def finance_user(role: Role = Role.FINANCE_APPROVER, **kwargs: Any) -> User:
    """A user holding one platform-wide finance role (no tenant), granted as the application grants it:
    staff, in the role's admin group."""
    user = UserFactory.create(**kwargs)
    membership_grant(user=user, role=role)
    return user
