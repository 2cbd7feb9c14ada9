"""factory_boy factories, one per model. Tests build exactly the data they need with these."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import factory
from django.contrib.auth import get_user_model
from factory.django import DjangoModelFactory

from billing.catalog.models import Meter, Sku
from billing.pricing import document_sha256
from billing.profiles.models import BillingProfile, ProfileAssignment, ProfileVersion
from tenants.models import Membership, Project, Role, Tenant

User = get_user_model()


class UserFactory(DjangoModelFactory[Any]):
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


def finance_user(role: Role = Role.FINANCE_APPROVER, **kwargs: Any) -> Any:
    user = UserFactory.create(**kwargs)
    Membership.objects.create(user=user, role=role, tenant=None)
    return user


class MeterFactory(DjangoModelFactory[Meter]):
    class Meta:
        model = Meter
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"meter-{n}")
    name = factory.LazyAttribute(lambda m: m.code)
    unit = "unit"
    aggregation = Meter.Aggregation.SUM


class SkuFactory(DjangoModelFactory[Sku]):
    class Meta:
        model = Sku
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"sku-{n}")
    name = factory.LazyAttribute(lambda s: s.code)
    meter = factory.SubFactory(MeterFactory, code=factory.SelfAttribute("..code"))
    unit_label = "unit"
    service_category = Sku.ServiceCategory.COMPUTE


def profile_document(
    code: str, *, currency: str = "EUR", unit_amount: str = "0.10", sku: str = "api_calls", **extra: Any
) -> dict[str, Any]:
    """A small valid profile document pricing one SKU per unit."""
    doc: dict[str, Any] = {
        "profile": code,
        "currency": currency,
        "billing_cycle": "monthly",
        "grace_hours": 72,
        "tax": {"jurisdiction": "DE", "mode": "exclusive"},
        "prices": [{"sku": sku, "model": "per_unit", "unit_amount": unit_amount}],
    }
    doc.update(extra)
    return doc


class BillingProfileFactory(DjangoModelFactory[BillingProfile]):
    class Meta:
        model = BillingProfile
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"profile-{n}")
    name = factory.LazyAttribute(lambda p: p.code.title())


class ProfileVersionFactory(DjangoModelFactory[ProfileVersion]):
    """Writes the row directly (bypassing the workflow), in a status the trigger allows on insert."""

    class Meta:
        model = ProfileVersion

    profile = factory.SubFactory(BillingProfileFactory)
    number = factory.Sequence(lambda n: n + 1)
    body = factory.LazyAttribute(lambda v: profile_document(v.profile.code))
    body_sha256 = factory.LazyAttribute(lambda v: document_sha256(v.body))
    effective_from = datetime(2026, 1, 1, tzinfo=UTC)
    author = factory.SubFactory(UserFactory)
    status = ProfileVersion.Status.DRAFT


class ApprovedVersionFactory(ProfileVersionFactory):
    status = ProfileVersion.Status.APPROVED
    decided_by = factory.SubFactory(UserFactory)
    decided_at = datetime(2025, 12, 20, tzinfo=UTC)


class ProfileAssignmentFactory(DjangoModelFactory[ProfileAssignment]):
    class Meta:
        model = ProfileAssignment

    tenant = factory.SubFactory(TenantFactory)
    profile = factory.SubFactory(BillingProfileFactory)
    effective_from = datetime(2026, 1, 1, tzinfo=UTC)
    effective_to = None
