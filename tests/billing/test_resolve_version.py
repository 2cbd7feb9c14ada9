"""resolve_version: the version in force for a tenant's SKU at an instant (invariant 5)."""

from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, transaction

from billing.profiles.models import ProfileAssignment
from billing.profiles.selectors import resolve_version
from billing.profiles.services import profile_assign
from common.errors import Conflict
from tests.factories import (
    ApprovedVersionFactory,
    BillingProfileFactory,
    ProfileAssignmentFactory,
    ProfileVersionFactory,
    TenantFactory,
    profile_document,
)

pytestmark = pytest.mark.django_db

JAN = datetime(2026, 1, 1, tzinfo=UTC)
FEB = datetime(2026, 2, 1, tzinfo=UTC)
MID_JAN = datetime(2026, 1, 15, tzinfo=UTC)


@pytest.fixture
def tenant():
    return TenantFactory.create()


def test_it_returns_the_version_whose_effective_from_last_precedes_the_instant(tenant):
    profile = BillingProfileFactory.create(code="std")
    v1 = ApprovedVersionFactory.create(profile=profile, number=1, effective_from=JAN, status="superseded")
    v2 = ApprovedVersionFactory.create(profile=profile, number=2, effective_from=MID_JAN)
    ProfileAssignmentFactory.create(tenant=tenant, profile=profile, effective_from=JAN)

    assert resolve_version(tenant=tenant, sku="api_calls", at=datetime(2026, 1, 14, 23, 59, tzinfo=UTC)) == v1
    assert resolve_version(tenant=tenant, sku="api_calls", at=MID_JAN) == v2


def test_drafts_and_pending_versions_are_never_in_force(tenant):
    profile = BillingProfileFactory.create(code="std")
    approved = ApprovedVersionFactory.create(profile=profile, number=1, effective_from=JAN)
    ProfileVersionFactory.create(profile=profile, number=2, effective_from=MID_JAN, status="pending_approval")
    ProfileAssignmentFactory.create(tenant=tenant, profile=profile, effective_from=JAN)

    assert resolve_version(tenant=tenant, sku="api_calls", at=datetime(2026, 1, 20, tzinfo=UTC)) == approved


def test_it_follows_the_tenant_across_profile_assignments(tenant):
    old, new = BillingProfileFactory.create(code="old"), BillingProfileFactory.create(code="new")
    v_old = ApprovedVersionFactory.create(profile=old, effective_from=JAN)
    v_new = ApprovedVersionFactory.create(profile=new, effective_from=JAN)
    ProfileAssignmentFactory.create(tenant=tenant, profile=old, effective_from=JAN)
    profile_assign(tenant=tenant, profile=new, effective_from=MID_JAN)

    assert resolve_version(tenant=tenant, sku="api_calls", at=datetime(2026, 1, 10, tzinfo=UTC)) == v_old
    assert resolve_version(tenant=tenant, sku="api_calls", at=MID_JAN) == v_new
    assert ProfileAssignment.objects.get(profile=old).effective_to == MID_JAN


def test_nothing_is_in_force_before_the_first_assignment(tenant):
    profile = BillingProfileFactory.create(code="std")
    ApprovedVersionFactory.create(profile=profile, effective_from=JAN)
    ProfileAssignmentFactory.create(tenant=tenant, profile=profile, effective_from=FEB)

    assert resolve_version(tenant=tenant, sku="api_calls", at=MID_JAN) is None


def test_a_sku_the_version_does_not_price_resolves_to_nothing(tenant):
    profile = BillingProfileFactory.create(code="std")
    ApprovedVersionFactory.create(
        profile=profile, effective_from=JAN, body=profile_document("std", sku="storage")
    )
    ProfileAssignmentFactory.create(tenant=tenant, profile=profile, effective_from=JAN)

    assert resolve_version(tenant=tenant, sku="api_calls", at=MID_JAN) is None


def test_another_tenants_assignment_does_not_leak(tenant):
    profile = BillingProfileFactory.create(code="std")
    ApprovedVersionFactory.create(profile=profile, effective_from=JAN)
    ProfileAssignmentFactory.create(tenant=TenantFactory.create(), profile=profile, effective_from=JAN)

    assert resolve_version(tenant=tenant, sku="api_calls", at=MID_JAN) is None


def test_the_database_refuses_overlapping_assignments(tenant):
    ProfileAssignmentFactory.create(tenant=tenant, effective_from=JAN, effective_to=FEB)

    with pytest.raises(IntegrityError), transaction.atomic():
        ProfileAssignmentFactory.create(tenant=tenant, effective_from=MID_JAN)


def test_adjacent_assignments_are_allowed(tenant):
    ProfileAssignmentFactory.create(tenant=tenant, effective_from=JAN, effective_to=FEB)
    ProfileAssignmentFactory.create(tenant=tenant, effective_from=FEB)

    assert ProfileAssignment.objects.filter(tenant=tenant).count() == 2


def test_assigning_before_a_later_assignment_is_refused(tenant):
    ProfileAssignmentFactory.create(tenant=tenant, effective_from=FEB)

    with pytest.raises(Conflict):
        profile_assign(tenant=tenant, profile=BillingProfileFactory.create(), effective_from=JAN)
