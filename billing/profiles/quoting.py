"""A quote priced by a stored version: the price a tenant's profile version in force gives a SKU, resolved
for THAT tenant at the instant by the one rule (billing.profiles.selectors.VersionTimeline, so a canary's
cohort is quoted the canary's price), used only when the version's approval signatures verify
(billing.profiles.signatures); otherwise refused with the reason and a `signature` alert.

A price list is read only through a tenant it prices: a profile that is not the tenant's at that instant
answers as an unknown one (404), so a caller never learns another tenant's prices (invariant 8)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone

from billing.profiles.models import ProfileVersion
from billing.profiles.selectors import VersionTimeline
from billing.profiles.signatures import verification_failure
from common import metrics
from common.errors import Blocked, FieldIssue, NotFound, ValidationFailed
from ledger.models import Alert
from ledger.services.alerts import alert_raise
from tenants.models import Tenant


@dataclass(frozen=True)
class StoredPrice:
    version: ProfileVersion
    price: dict[str, Any]  # the prices entry, without its sku
    currency: str


def stored_price(*, tenant: Tenant, profile: str, sku: str, at: datetime | None = None) -> StoredPrice:
    """The price of `sku` in the version of profile `profile` in force for `tenant` at `at` (now).
    NotFound when the profile is not the tenant's then (unknown, or another tenant's: the same answer) or
    no version of it is in force for the tenant; Blocked when the version does not verify."""
    at = at or timezone.now()
    version = VersionTimeline([tenant.pk]).version_at(tenant.pk, at)
    if version is None or version.profile.code != profile:
        raise NotFound(
            f"no profile {profile!r} in force for this tenant at {at.isoformat()}",
            issues=[FieldIssue("profile", "unknown profile")],
        )
    entry = next((dict(e) for e in version.body.get("prices", []) if e.get("sku") == sku), None)
    if entry is None:
        raise ValidationFailed(
            f"version {version.number} of {profile!r} does not price {sku!r}",
            issues=[FieldIssue("sku", "not priced by the version in force")],
        )
    failure = verification_failure(version)
    if failure is not None:
        metrics.SIGNATURE_FAILURES.labels(stage="quote").inc()
        alert_raise(kind=Alert.Kind.SIGNATURE, tenant_id=None, message=f"quote refused: {failure}")
        raise Blocked(f"quote refused: {failure}", extra={"reason": "signature", "version": version.pk})
    entry.pop("sku", None)
    return StoredPrice(version=version, price=entry, currency=str(version.body.get("currency", "")))
