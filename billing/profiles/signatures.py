"""Signed approvals: each Approval carries an HMAC-SHA256, keyed by settings.PROFILE_SIGNING_KEY, over the
version's body SHA-256, the approver, the instant of the approval and the request's backtest hash. A
version is used (rating, close, quotes) only while `version_verifies` holds: its body still hashes to
`body_sha256`, and its approved request holds at least `required_approvals` approvals whose signatures
verify. docs/approvals.md.

billing/migrations/0018_profile_approvals.py holds a frozen copy of `approval_signature` (its backfill)."""

from __future__ import annotations

import hashlib
import hmac
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime

from django.conf import settings

from billing.pricing import document_sha256
from billing.profiles.models import Approval, ApprovalRequest, ProfileVersion

SCHEME = "profile-approval/v1"


def _stamp(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("an approval instant needs a time zone")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def approval_message(*, body_sha256: str, approver_id: int, approved_at: datetime, backtest_hash: str) -> str:
    """The canonical string signed: one field a line, the instant in UTC to the microsecond."""
    return f"{SCHEME}\n{body_sha256}\n{approver_id}\n{_stamp(approved_at)}\n{backtest_hash}"


def approval_signature(
    *, body_sha256: str, approver_id: int, approved_at: datetime, backtest_hash: str
) -> str:
    message = approval_message(
        body_sha256=body_sha256, approver_id=approver_id, approved_at=approved_at, backtest_hash=backtest_hash
    )
    key = settings.PROFILE_SIGNING_KEY.encode("utf-8")
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()


def approval_verifies(*, approval: Approval, body_sha256: str, backtest_hash: str) -> bool:
    expected = approval_signature(
        body_sha256=body_sha256,
        approver_id=approval.approver_id,
        approved_at=approval.approved_at,
        backtest_hash=backtest_hash,
    )
    return hmac.compare_digest(expected, approval.signature)


def verification_failures(versions: Iterable[ProfileVersion]) -> dict[int, str]:
    """Of `versions`, those that do not verify (see the module docstring), by id, with the reason naming
    the version. Two queries, whatever the number of versions."""
    rows = {v.pk: v for v in versions}
    failures: dict[int, str] = {}
    for v in rows.values():
        if document_sha256(v.body) != v.body_sha256:
            failures[v.pk] = f"{_name(v)}: its body does not hash to its body_sha256"
    requests: dict[int, ApprovalRequest] = {}
    for request in ApprovalRequest.objects.filter(
        version_id__in=rows, status=ApprovalRequest.Status.APPROVED
    ).order_by("version_id", "id"):
        requests[request.version_id] = request  # the latest approved request of each version
    approvals: dict[int, list[Approval]] = defaultdict(list)
    for approval in Approval.objects.filter(request_id__in=[r.pk for r in requests.values()]).order_by("id"):
        approvals[approval.request_id].append(approval)
    for pk, v in rows.items():
        if pk in failures:
            continue
        found = requests.get(pk)
        if found is None:
            failures[pk] = f"{_name(v)}: no approved approval request"
            continue
        request = found
        signed = approvals[request.pk]
        valid = {
            a.approver_id
            for a in signed
            if a.approver_id != v.author_id
            and approval_verifies(approval=a, body_sha256=v.body_sha256, backtest_hash=request.backtest_hash)
        }
        if len(valid) < len(signed):
            failures[pk] = (
                f"{_name(v)}: {len(signed) - len(valid)} approval signature(s) of request {request.pk} do not verify"
            )
        elif len(valid) < request.required_approvals:
            failures[pk] = (
                f"{_name(v)}: request {request.pk} holds {len(valid)} valid approval(s), "
                f"{request.required_approvals} required"
            )
    return failures


def _name(version: ProfileVersion) -> str:
    return f"version {version.number} (id {version.pk}) of profile {version.profile_id}"


def verification_failure(version: ProfileVersion) -> str | None:
    """Why `version` does not verify, or None when it does."""
    return verification_failures([version]).get(version.pk)


def version_verifies(version: ProfileVersion) -> bool:
    return verification_failure(version) is None
