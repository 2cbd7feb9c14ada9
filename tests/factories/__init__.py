"""Test data, by model area: factory_boy factories per model (`tenants`, `billing`) and builders of
whole scenarios (`usage`: a tenant ingesting events; `ledger`: rated usage, tax and FX for a period close).

The model factories are re-exported here; import the scenario builders from their modules."""

from tests.factories.billing import (
    ApprovedVersionFactory,
    BillingProfileFactory,
    MeterFactory,
    ProfileAssignmentFactory,
    ProfileVersionFactory,
    SkuFactory,
    profile_document,
)
from tests.factories.tenants import (
    MembershipFactory,
    ProjectFactory,
    TenantFactory,
    UserFactory,
    finance_user,
)

__all__ = [
    "ApprovedVersionFactory",
    "BillingProfileFactory",
    "MembershipFactory",
    "MeterFactory",
    "ProfileAssignmentFactory",
    "ProfileVersionFactory",
    "ProjectFactory",
    "SkuFactory",
    "TenantFactory",
    "UserFactory",
    "finance_user",
    "profile_document",
]
