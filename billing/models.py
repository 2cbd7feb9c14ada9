"""The billing app's model registry: Django imports `billing.models`, and the models live in the domain
packages that own them. Code inside `billing` imports each model from its domain package."""

from billing.allocation.models import AllocationApproval, AllocationRule, AllocationRuleVersion
from billing.catalog.models import Meter, Sku
from billing.close.models import ExchangeRate, TaxRule
from billing.monitoring.models import TenantBudget
from billing.profiles.models import BillingProfile, ProfileAssignment, ProfileVersion
from billing.profiles.rollout_models import Rollout, RolloutTenant
from billing.rating.models import BillingPeriod, TenantUsageEstimate, UsageAggregate, UsageAggregateValue
from billing.usage.models import IngestRequest, RatingBatch, UsageEvent

__all__ = [
    "AllocationApproval",
    "AllocationRule",
    "AllocationRuleVersion",
    "BillingPeriod",
    "BillingProfile",
    "ExchangeRate",
    "IngestRequest",
    "Meter",
    "ProfileAssignment",
    "ProfileVersion",
    "RatingBatch",
    "Rollout",
    "RolloutTenant",
    "Sku",
    "TaxRule",
    "TenantBudget",
    "TenantUsageEstimate",
    "UsageAggregate",
    "UsageAggregateValue",
    "UsageEvent",
]
