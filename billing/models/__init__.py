from .catalog import Meter, Sku
from .profiles import BillingProfile, ProfileAssignment, ProfileVersion
from .tax import ExchangeRate, TaxRule
from .usage import (
    BillingPeriod,
    IngestRequest,
    RatingBatch,
    TenantUsageEstimate,
    UsageAggregate,
    UsageAggregateValue,
    UsageEvent,
)

__all__ = [
    "BillingPeriod",
    "BillingProfile",
    "ExchangeRate",
    "IngestRequest",
    "Meter",
    "ProfileAssignment",
    "ProfileVersion",
    "RatingBatch",
    "Sku",
    "TaxRule",
    "TenantUsageEstimate",
    "UsageAggregate",
    "UsageAggregateValue",
    "UsageEvent",
]
