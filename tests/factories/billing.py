"""Factories for the billing catalogue and profiles: meters, SKUs, profiles, versions, assignments."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import factory
from factory.django import DjangoModelFactory

from billing.catalog.models import Meter, Sku
from billing.pricing import document_sha256
from billing.profiles.models import BillingProfile, ProfileAssignment, ProfileVersion
from tests.factories.tenants import TenantFactory, UserFactory


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
