"""Reads: which profile version prices a tenant's usage at a given instant."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q, QuerySet

from billing.catalog.models import Sku
from billing.profiles.models import BillingProfile, ProfileAssignment, ProfileVersion
from tenants.models import Tenant


def assignment_at(*, tenant: Tenant | int, at: datetime) -> ProfileAssignment | None:
    """The tenant's profile assignment whose window [from, to) holds `at`."""
    tenant_id = tenant if isinstance(tenant, int) else tenant.pk
    return (
        ProfileAssignment.objects.select_related("profile")
        .filter(tenant_id=tenant_id, effective_from__lte=at)
        .filter(Q(effective_to__isnull=True) | Q(effective_to__gt=at))
        .first()
    )


def version_in_force(*, profile: BillingProfile | int, at: datetime) -> ProfileVersion | None:
    """The approved (or since superseded) version of `profile` with the latest effective_from <= at."""
    profile_id = profile if isinstance(profile, int) else profile.pk
    return (
        ProfileVersion.objects.filter(
            profile_id=profile_id, status__in=ProfileVersion.IN_FORCE_STATUSES, effective_from__lte=at
        )
        .order_by("-effective_from")
        .first()
    )


def resolve_version(*, tenant: Tenant | int, sku: Sku | str, at: datetime) -> ProfileVersion | None:
    """The profile version that prices `sku` for `tenant` at instant `at`, or None when the tenant has
    no profile then, its profile had no approved version yet, or that version does not price the SKU."""
    assignment = assignment_at(tenant=tenant, at=at)
    if assignment is None:
        return None
    version = version_in_force(profile=assignment.profile_id, at=at)
    if version is None:
        return None
    code = sku if isinstance(sku, str) else sku.code
    if not any(entry.get("sku") == code for entry in version.body.get("prices", [])):
        return None
    return version


def versions_of(*, profile: BillingProfile) -> QuerySet[ProfileVersion]:
    return profile.versions.select_related("author", "decided_by").order_by("-number")


def pending_versions() -> QuerySet[ProfileVersion]:
    return ProfileVersion.objects.filter(status=ProfileVersion.Status.PENDING_APPROVAL).select_related(
        "profile", "author"
    )
