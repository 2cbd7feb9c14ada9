"""The demo's canary in progress (`demo_rollout_start`, called by billing.demo_governance in `make demo`): the
Growth (USD) price list's next version raises the platform fee from 149.00 to 159.00 USD and runs, since
the start of today (UTC), as a canary for half of the price list's tenants: the draw's salt is chosen so
that the cohort is Initech alone (Umbrella stays on the current prices). Guardrails: 10 % of a cohort
tenant's estimated bill, 3 disputes. Idempotent: a second call returns the rollout already there.

Like the rest of the seeded history, the version takes effect in the past (an operator's backdating),
and so does the rollout's scheduling: a canary is scheduled before its version takes effect."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from billing.governance.rollouts import rollout_schedule
from billing.governance.versions import profile_version_approve, profile_version_submit
from billing.profiles.models import BillingProfile, ProfileAssignment, ProfileVersion
from billing.profiles.rollout_models import Rollout, in_percentage_cohort
from billing.profiles.services import profile_version_create
from tenants.models import Role

PROFILE = "growth-usd"
COHORT = ("initech",)
PERCENT = Decimal(50)


def _salt_for(tenant_ids: dict[str, int]) -> str:
    """The first salt whose 50 % draw takes exactly the COHORT's tenants of the price list."""
    for n in range(10_000):
        salt = f"demo-{n}"
        drawn = {
            slug
            for slug, pk in tenant_ids.items()
            if in_percentage_cohort(salt=salt, tenant_id=pk, percent=PERCENT)
        }
        if drawn == set(COHORT):
            return salt
    raise RuntimeError("no salt draws the demo's cohort")  # 1 in 4 salts does, for two tenants


def _approvers(first: Any, author: Any) -> list[Any]:
    """`first`, then the demo's other finance approvers (the policy may ask for two: `controller`)."""
    others = (
        get_user_model()
        .objects.filter(memberships__role=Role.FINANCE_APPROVER, memberships__tenant__isnull=True)
        .exclude(pk__in=[first.pk, author.pk])
        .order_by("username")
        .distinct()
    )
    return [first, *others]


def demo_rollout_start(now: datetime | None = None) -> Rollout | None:
    """Leave a canary in progress on the demo data (module docstring); None when the demo's price list
    or its users are missing (seed_demo has not run)."""
    now = now or timezone.now()
    User = get_user_model()
    profile = BillingProfile.objects.filter(code=PROFILE).first()
    author = User.objects.filter(username="pricing").first()
    approver = User.objects.filter(username="finance").first()
    if profile is None or author is None or approver is None:
        return None
    existing = Rollout.objects.filter(version__profile=profile).order_by("-created_at").first()
    if existing is not None:
        return existing
    current = (
        ProfileVersion.objects.filter(
            profile=profile, status=ProfileVersion.Status.APPROVED, effective_from__lte=now
        )
        .order_by("-effective_from")
        .first()
    )
    if current is None:
        return None
    body = copy.deepcopy(current.body)
    for price in body["prices"]:
        if price["sku"] == "platform_fee":
            price["amount"] = "159.00"
    start = datetime(now.year, now.month, now.day, tzinfo=UTC)
    tenants = dict(
        ProfileAssignment.objects.filter(profile=profile, effective_to__isnull=True).values_list(
            "tenant__slug", "tenant_id"
        )
    )
    with transaction.atomic():
        version = profile_version_create(profile=profile, body=body, effective_from=start, author=author)
        version = profile_version_submit(version=version, actor=author)
        for decider in _approvers(approver, author):
            version = profile_version_approve(
                version=version,
                approver=decider,
                note="demo: platform fee 149.00 -> 159.00 USD",
                allow_backdated=True,
            )
            if version.status == ProfileVersion.Status.APPROVED:
                break
        else:
            return None  # the policy asks for more approvers than the demo has: no canary
        return rollout_schedule(
            version=version,
            actor=approver,
            percent=PERCENT,
            salt=_salt_for(tenants),
            max_bill_change_pct=Decimal(10),
            max_disputes=3,
            now=start - timedelta(hours=1),
        )
