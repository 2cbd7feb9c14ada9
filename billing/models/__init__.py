from .catalog import Meter, Sku
from .profiles import BillingProfile, ProfileAssignment, ProfileVersion
from .tax import ExchangeRate, TaxRule
from .usage import BillingPeriod, UsageAggregate, UsageEvent

__all__ = [
    "BillingPeriod",
    "BillingProfile",
    "ExchangeRate",
    "Meter",
    "ProfileAssignment",
    "ProfileVersion",
    "Sku",
    "TaxRule",
    "UsageAggregate",
    "UsageEvent",
]
