"""The version moves as one call each, over approval requests (billing.governance.approvals): submit a
draft (an approval request with its backtest), approve (one signed approval of its open request), reject.
What operators, the demo seed and most tests call."""

from __future__ import annotations

from django.contrib.auth.models import User

from billing.governance.approvals import approval_grant, approval_reject, approval_request_create
from billing.profiles.models import ApprovalRequest, ProfileVersion
from billing.profiles.roles import APPROVERS
from billing.profiles.roles import require_role as _require_role
from common.errors import FieldIssue, StateError, ValidationFailed


def profile_version_submit(*, version: ProfileVersion, actor: User, periods: int = 1) -> ProfileVersion:
    """Submit a draft: an approval request with its backtest (billing.governance.approvals)."""
    request = approval_request_create(version=version, actor=actor, periods=periods)
    return ProfileVersion.objects.get(pk=request.version_id)


def _open_request(version: ProfileVersion) -> ApprovalRequest:
    request = ApprovalRequest.objects.filter(
        version_id=version.pk, status=ApprovalRequest.Status.OPEN
    ).first()
    if request is None:
        current = ProfileVersion.objects.get(pk=version.pk)
        raise StateError(
            f"version {current.number} is {current.status} without an open approval request; "
            "only pending versions can be decided"
        )
    return request


def profile_version_approve(
    *, version: ProfileVersion, approver: User, note: str = "", allow_backdated: bool = False
) -> ProfileVersion:
    """One approval of the version's open request (billing.governance.approvals.approval_grant): four eyes
    (the approver holds finance_approver and is not the author; the database checks it too). The version
    is approved once its request holds the approvals the policy asks for; until then it stays pending.

    A version may not take effect in the past unless `allow_backdated` (operators seeding history):
    usage already rated keeps the version it was rated with (invariant 5)."""
    _require_role(approver, APPROVERS, "approving a profile version")
    request = _open_request(version)
    approval_grant(request=request, approver=approver, note=note, allow_backdated=allow_backdated)
    return ProfileVersion.objects.get(pk=version.pk)


def profile_version_reject(*, version: ProfileVersion, approver: User, reason: str) -> ProfileVersion:
    _require_role(approver, APPROVERS, "rejecting a profile version")
    if not reason.strip():
        raise ValidationFailed("a rejection needs a reason", issues=[FieldIssue("reason", "required")])
    approval_reject(request=_open_request(version), approver=approver, reason=reason)
    return ProfileVersion.objects.get(pk=version.pk)
