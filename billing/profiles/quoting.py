"""A quote priced by a stored version: the price a profile's version in force gives a SKU, used only when
the version's approval signatures verify (billing.profiles.signatures); otherwise refused with the reason
and a `signature` alert."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone

from billing.profiles.models import BillingProfile, ProfileVersion
from billing.profiles.selectors import version_effective
from billing.profiles.signatures import verification_failure
from common.errors import Blocked, FieldIssue, NotFound, ValidationFailed
from ledger.models import Alert
from ledger.services.alerts import alert_raise


@dataclass(frozen=True)
class StoredPrice:
    version: ProfileVersion
    price: dict[str, Any]  # the prices entry, without its sku
    currency: str


def stored_price(*, profile: str, sku: str, at: datetime | None = None) -> StoredPrice:
    """The price of `sku` in the version of profile `profile` in force at `at` (now; a tenant in no
    rollout's cohort). NotFound without such a version or price; Blocked when the version does not verify."""
    at = at or timezone.now()
    found = BillingProfile.objects.filter(code=profile).first()
    if found is None:
        raise NotFound(f"no profile {profile!r}", issues=[FieldIssue("profile", "unknown profile")])
    versions = list(
        ProfileVersion.objects.filter(profile=found, status__in=ProfileVersion.IN_FORCE_STATUSES).order_by(
            "effective_from"
        )
    )
    version = version_effective([v.effective_from for v in versions], versions, at)
    if version is None:
        raise NotFound(f"profile {profile!r} has no version in force at {at.isoformat()}")
    entry = next((dict(e) for e in version.body.get("prices", []) if e.get("sku") == sku), None)
    if entry is None:
        raise ValidationFailed(
            f"version {version.number} of {profile!r} does not price {sku!r}",
            issues=[FieldIssue("sku", "not priced by the version in force")],
        )
    failure = verification_failure(version)
    if failure is not None:
        alert_raise(kind=Alert.Kind.SIGNATURE, tenant_id=None, message=f"quote refused: {failure}")
        raise Blocked(f"quote refused: {failure}", extra={"reason": "signature", "version": version.pk})
    entry.pop("sku", None)
    return StoredPrice(version=version, price=entry, currency=str(version.body.get("currency", "")))
