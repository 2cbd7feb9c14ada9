"""The demo's finance governance (`manage.py demo_governance`, after `demo_disputes` in `make demo`): on
the seeded, closed demo it leaves

- a pending approval request with its backtest: `pricing` (finance editor) drafts a price increase of the
  Cloud Standard (EUR) price list (the first 1,000 vCPU-hours 0.040 -> 0.042 EUR each, from the first of
  next month, UTC) and submits it with a backtest of the last closed period, through the services;
- a canary in progress (billing.governance.demo_rollout: Growth (USD)'s API-call package for Initech first);
- a finance viewer, `auditor`, to try the read-only role with (seed_demo made `pricing`, the editor, and
  two approvers, `finance` and `controller`);
- the audit records the services write on the way (ledger.audit).

Idempotent: a second run finds the request (open, or decided since) and the rollout, and makes nothing
twice."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone

from billing.demo import DEMO_PASSWORD, _user
from billing.governance.approvals import approval_request_create
from billing.governance.demo_rollout import demo_rollout_start
from billing.profiles.models import ApprovalRequest, BillingProfile, ProfileVersion
from billing.profiles.selectors import profile_version_in_force
from billing.profiles.services import profile_version_create
from tenants.models import Role
from tenants.services import membership_grant

PROFILE = "cloud-standard-eur"
SKU = "compute_vcpu_hours"
NEW_FIRST_TIER = "0.042"
EXTRA_USERS = (("auditor", Role.FINANCE_VIEWER, "finance viewer: reads the workspace and the admin"),)


@dataclass
class GovernanceResult:
    request: ApprovalRequest | None
    rollout: Any  # billing.profiles.rollout_models.Rollout | None
    created: list[str] = field(default_factory=list)
    credentials: list[tuple[str, str, str]] = field(default_factory=list)


def _first_of_next_month(now: datetime) -> datetime:
    year, month = (now.year + 1, 1) if now.month == 12 else (now.year, now.month + 1)
    return datetime(year, month, 1, tzinfo=UTC)


def _increase(body: dict[str, Any]) -> dict[str, Any]:
    """The body with the compute price's first tier at NEW_FIRST_TIER."""
    raised = copy.deepcopy(body)
    for price in raised["prices"]:
        if price["sku"] == SKU:
            price["tiers"][0]["unit_amount"] = NEW_FIRST_TIER
    return raised


def _first_tier(body: dict[str, Any]) -> str | None:
    for price in body.get("prices", []):
        if price.get("sku") == SKU and price.get("tiers"):
            return str(price["tiers"][0].get("unit_amount"))
    return None


def _pending_request(
    profile: BillingProfile, author: Any, now: datetime
) -> tuple[ApprovalRequest | None, bool]:
    """The demo's request (found: the latest on a version with the raised first tier, whatever became of it;
    or drafted and submitted now) and whether it was made now."""
    ours = [
        v
        for v in profile.versions.filter(author=author).order_by("-number")
        if _first_tier(v.body) == NEW_FIRST_TIER
    ]
    for version in ours:
        found = version.approval_requests.order_by("-created_at").first()
        if found is not None:
            return found, False
    current = profile_version_in_force(profile=profile, at=now)
    if current is None:
        return None, False
    draft = next((v for v in ours if v.status == ProfileVersion.Status.DRAFT), None)
    if draft is None:
        draft = profile_version_create(
            profile=profile,
            body=_increase(current.body),
            effective_from=_first_of_next_month(now),
            author=author,
        )
    return approval_request_create(version=draft, actor=author, periods=1, now=now), True


def demo_governance(now: datetime | None = None) -> GovernanceResult:
    now = now or timezone.now()
    User = get_user_model()
    author = User.objects.filter(username="pricing").first()
    profile = BillingProfile.objects.filter(code=PROFILE).first()
    result = GovernanceResult(request=None, rollout=None)
    for username, role, what in EXTRA_USERS:
        if not User.objects.filter(username=username).exists():
            result.created.append(f"user {username}")
        user = _user(username, email=f"{username}@demo.test", staff=True)
        membership_grant(user=user, role=role)
        result.credentials.append((username, DEMO_PASSWORD, what))
    if author is None or profile is None:
        return result
    result.request, made = _pending_request(profile, author, now)
    if made and result.request is not None:
        result.created.append(f"approval request {result.request.pk}")
    result.rollout = demo_rollout_start(now)
    return result


def backtest_line(request: ApprovalRequest) -> str:
    """One line about a request's backtest, for the command's output."""
    summary = request.backtest or {}
    delta = summary.get("revenue_delta")
    pct = summary.get("revenue_delta_pct")
    currency = summary.get("currency", "")
    if delta is None:
        return "no closed period to re-price"
    return (
        f"{summary.get('tenants', 0)} tenants, revenue {Decimal(str(delta)):+} {currency}"
        f"{f' ({Decimal(str(pct)):+}%)' if pct is not None else ''}, needs {request.required_approvals} approval(s)"
    )
