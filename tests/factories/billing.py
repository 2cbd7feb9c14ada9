"""Factories for the billing catalogue and profiles: meters, SKUs, profiles, versions, assignments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import factory
from factory.django import DjangoModelFactory

from billing.catalog.models import Meter, Sku
from billing.pricing import document_sha256
from billing.profiles.models import (
    Approval,
    ApprovalRequest,
    BillingProfile,
    ProfileAssignment,
    ProfileVersion,
)
from billing.profiles.signatures import approval_signature
from tests.factories.tenants import TenantFactory, UserFactory, finance_user


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
    """Inserts a draft (the only status the database takes on insert), then walks the workflow's moves to
    the `status` asked for: submit (pending_approval), approve or reject by `decided_by` (who must hold
    the finance_approver role), supersede. Each move is an UPDATE the guard checks, without the services'
    other rules (validation against the catalogue, no backdating, superseding older versions). Submitting
    opens an approval request (empty backtest, one approver); approving signs its Approval, so the version
    verifies (billing.profiles.signatures)."""

    class Meta:
        model = ProfileVersion

    profile = factory.SubFactory(BillingProfileFactory)
    number = factory.Sequence(lambda n: n + 1)
    body = factory.LazyAttribute(lambda v: profile_document(v.profile.code))
    body_sha256 = factory.LazyAttribute(lambda v: document_sha256(v.body))
    effective_from = datetime(2026, 1, 1, tzinfo=UTC)
    author = factory.SubFactory(UserFactory)
    status = ProfileVersion.Status.DRAFT

    @classmethod
    def _create(cls, model_class: type[ProfileVersion], *args: Any, **kwargs: Any) -> ProfileVersion:
        status = kwargs.pop("status")
        submitted_at = kwargs.pop("submitted_at", None) or SUBMITTED_AT
        decided_by = kwargs.pop("decided_by", None)
        decided_at = kwargs.pop("decided_at", None) or DECIDED_AT
        decision_note = kwargs.pop("decision_note", "")
        version: ProfileVersion = super()._create(model_class, *args, **kwargs)
        if status == ProfileVersion.Status.DRAFT:
            return version
        version.status, version.submitted_at = ProfileVersion.Status.PENDING_APPROVAL, submitted_at
        version.save(update_fields=["status", "submitted_at"])
        request = ApprovalRequest.objects.create(
            version=version,
            requested_by=version.author,
            created_at=submitted_at,
            expires_at=submitted_at + REQUEST_TTL,
            backtest={},
            backtest_hash=EMPTY_BACKTEST_HASH,
        )
        if status == ProfileVersion.Status.PENDING_APPROVAL:
            return version
        decided = (
            ProfileVersion.Status.REJECTED
            if status == ProfileVersion.Status.REJECTED
            else ProfileVersion.Status.APPROVED
        )
        decider = decided_by or finance_user()
        if decided == ProfileVersion.Status.APPROVED:
            Approval.objects.create(
                request=request,
                approver=decider,
                approved_at=decided_at,
                signature=approval_signature(
                    body_sha256=version.body_sha256,
                    approver_id=decider.pk,
                    approved_at=decided_at,
                    backtest_hash=request.backtest_hash,
                ),
            )
        request.status = (
            ApprovalRequest.Status.APPROVED
            if decided == ProfileVersion.Status.APPROVED
            else ApprovalRequest.Status.REJECTED
        )
        request.decided_at, request.decision_note = decided_at, decision_note
        request.save(update_fields=["status", "decided_at", "decision_note"])  # the database wants it first
        version.status = decided
        version.decided_by = decider
        version.decided_at, version.decision_note = decided_at, decision_note
        version.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
        if status == ProfileVersion.Status.SUPERSEDED:
            version.status = ProfileVersion.Status.SUPERSEDED
            version.save(update_fields=["status"])
        return version


SUBMITTED_AT = datetime(2025, 12, 15, tzinfo=UTC)
REQUEST_TTL = timedelta(days=7)
EMPTY_BACKTEST_HASH = document_sha256({})
DECIDED_AT = datetime(2025, 12, 20, tzinfo=UTC)


class ApprovedVersionFactory(ProfileVersionFactory):
    """An approved version (or `status="superseded"`), decided by a new finance approver unless
    `decided_by` names one."""

    status = ProfileVersion.Status.APPROVED


class ProfileAssignmentFactory(DjangoModelFactory[ProfileAssignment]):
    class Meta:
        model = ProfileAssignment

    tenant = factory.SubFactory(TenantFactory)
    profile = factory.SubFactory(BillingProfileFactory)
    effective_from = datetime(2026, 1, 1, tzinfo=UTC)
    effective_to = None
