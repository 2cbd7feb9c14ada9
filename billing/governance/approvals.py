"""Maker-checker for profile versions: an approval request carries its backtest; approvers other than the
author sign approvals until the policy's count is reached, which approves the version. docs/approvals.md.

    approval_request_create   a draft (or a pending version whose request expired) -> an open request
                              (the backtest of the last `periods` closed periods, its hash, the policy's
                              number of approvers and the rules that asked for them)
    approval_grant            one signed Approval; the last one needed approves the version (older
                              approved versions superseded)
    approval_reject           the request and the version rejected, with a reason
    approval_requests_expire  open requests past `expires_at` expired (hourly beat task); the version
                              stays pending until someone asks again
    approval_request_withdraw the requester takes an open request back (the version stays pending)

Four eyes twice: these services refuse an approver who wrote the version or asked for its approval, and
so does the database (billing/migrations/0018_profile_approvals.sql, 0020_approval_quorum_guards.sql),
which also approves a request only with its `required_approvals` and a version only with an approved
request. Only a draft's author edits it (billing.profiles.services). Every write is recorded in the audit trail."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from billing.governance.policy import policy_decide
from billing.profiles.models import Approval, ApprovalRequest, ProfileVersion
from billing.profiles.roles import APPROVERS, EDITORS
from billing.profiles.roles import require_role as _require_role
from billing.profiles.signatures import approval_signature
from common import metrics
from common.errors import Conflict, FieldIssue, PermissionDenied, StateError, ValidationFailed
from ledger.audit.services import audit_record, audit_snapshot

MAX_PERIODS = 12
EMPTY_BACKTEST_HASH = hashlib.sha256(json.dumps({}, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class BacktestOutcome:
    summary: dict[str, Any]
    result_hash: str


def _backtest(*, version: ProfileVersion, periods: int, now: datetime) -> BacktestOutcome:
    """billing.governance.backtest.backtest_run (imported here: it reads the close's modules)."""
    from billing.governance.backtest import backtest_run

    result = backtest_run(version=version, periods=periods, now=now)
    return BacktestOutcome(summary=dict(result.summary), result_hash=result.result_hash)


def _request_snapshot(request: ApprovalRequest) -> dict[str, Any]:
    return audit_snapshot(request, exclude=("backtest",))


def approval_request_create(
    *, version: ProfileVersion, actor: User, periods: int = 1, now: datetime | None = None
) -> ApprovalRequest:
    """Submit `version` for approval: a draft moves to pending_approval; a pending version without an open
    request (its last one expired) is asked for again. The backtest runs before any lock (it only reads)."""
    _require_role(actor, EDITORS, "requesting an approval")
    if isinstance(periods, bool) or not isinstance(periods, int) or not 1 <= periods <= MAX_PERIODS:
        raise ValidationFailed(
            "the backtest covers 1 to 12 closed periods",
            issues=[FieldIssue("periods", f"must be a whole number from 1 to {MAX_PERIODS}")],
        )
    if version.status not in (ProfileVersion.Status.DRAFT, ProfileVersion.Status.PENDING_APPROVAL):
        raise StateError(f"version {version.number} is {version.status}; only drafts can be submitted")
    now = now or timezone.now()
    outcome = _backtest(version=version, periods=periods, now=now)
    decision = policy_decide(metrics=outcome.summary)
    with transaction.atomic():
        locked = ProfileVersion.objects.select_for_update().get(pk=version.pk)
        if locked.status == ProfileVersion.Status.PENDING_APPROVAL:
            if ApprovalRequest.objects.filter(version=locked, status=ApprovalRequest.Status.OPEN).exists():
                raise Conflict(f"version {locked.number} already has an open approval request")
        elif locked.status != ProfileVersion.Status.DRAFT:
            raise StateError(f"version {locked.number} is {locked.status}; only drafts can be submitted")
        if locked.body_sha256 != version.body_sha256:
            raise Conflict(f"version {locked.number} changed while its backtest ran: submit it again")
        before = audit_snapshot(locked, fields=("status", "submitted_at"))
        if locked.status == ProfileVersion.Status.DRAFT:
            locked.status = ProfileVersion.Status.PENDING_APPROVAL
            locked.submitted_at = now
            locked.save(update_fields=["status", "submitted_at"])
        request = ApprovalRequest.objects.create(
            version=locked,
            requested_by=actor,
            created_at=now,
            expires_at=now + settings.APPROVAL_REQUEST_TTL,
            periods=periods,
            backtest=outcome.summary,
            backtest_hash=outcome.result_hash,
            required_approvals=decision.required_approvals,
            matched_rules=list(decision.matched_rules),
        )
        audit_record(
            actor=actor,
            action="profile_version.submit",
            obj=locked,
            before=before,
            after=audit_snapshot(locked, fields=("status", "submitted_at")),
            at=now,
        )
        audit_record(
            actor=actor,
            action="approval_request.create",
            obj=request,
            before=None,
            after=_request_snapshot(request),
            at=now,
        )
        return request


def _locked_open(request: ApprovalRequest, *, now: datetime) -> tuple[ApprovalRequest, ProfileVersion]:
    locked = ApprovalRequest.objects.select_for_update().get(pk=request.pk)
    version = ProfileVersion.objects.select_for_update().select_related("profile").get(pk=locked.version_id)
    if locked.status != ApprovalRequest.Status.OPEN:
        raise StateError(f"approval request {locked.pk} is {locked.status}, not open")
    if locked.expires_at <= now:
        raise StateError(f"approval request {locked.pk} expired at {locked.expires_at.isoformat()}")
    if version.status != ProfileVersion.Status.PENDING_APPROVAL:
        raise StateError(
            f"version {version.number} is {version.status}; only pending versions can be decided"
        )
    return locked, version


def approval_grant(
    *,
    request: ApprovalRequest,
    approver: User,
    note: str = "",
    allow_backdated: bool = False,
    now: datetime | None = None,
) -> ApprovalRequest:
    """Sign `approver`'s approval of `request`. When the request then holds `required_approvals`, the
    version is approved (effective from its `effective_from`, never in the past unless `allow_backdated`:
    operators seeding history) and the older approved versions of its profile are superseded."""
    _require_role(approver, APPROVERS, "approving a profile version")
    now = now or timezone.now()
    with transaction.atomic():
        locked, version = _locked_open(request, now=now)
        if version.author_id == approver.pk:
            raise PermissionDenied("the author of a version cannot approve it")
        if locked.requested_by_id == approver.pk:
            raise PermissionDenied("the requester of an approval cannot approve it")
        if locked.approvals.filter(approver=approver).exists():
            raise Conflict(f"{approver.get_username()} has already approved request {locked.pk}")
        if version.effective_from < now and not allow_backdated:
            raise ValidationFailed(
                "a version cannot take effect in the past",
                issues=[FieldIssue("effective_from", f"{version.effective_from.isoformat()} is before now")],
            )
        try:
            with transaction.atomic():
                approval = Approval.objects.create(
                    request=locked,
                    approver=approver,
                    approved_at=now,
                    note=note,
                    signature=approval_signature(
                        body_sha256=version.body_sha256,
                        approver_id=approver.pk,
                        approved_at=now,
                        backtest_hash=locked.backtest_hash,
                    ),
                )
        except IntegrityError as err:
            raise Conflict(f"approval refused by the database: {err}") from err
        audit_record(
            actor=approver,
            action="approval.grant",
            obj=approval,
            before=None,
            after=audit_snapshot(approval),
            reason=note,
            at=now,
        )
        if locked.approvals.count() >= locked.required_approvals:
            # The request first: the database approves a version only once it has an approved request.
            before = _request_snapshot(locked)
            locked.status = ApprovalRequest.Status.APPROVED
            locked.decided_at = now
            locked.decision_note = note
            locked.save(update_fields=["status", "decided_at", "decision_note"])
            _version_approve(version=version, approver=approver, note=note, now=now)
            audit_record(
                actor=approver,
                action="approval_request.approve",
                obj=locked,
                before=before,
                after=_request_snapshot(locked),
                reason=note,
                at=now,
            )
        return locked


def _version_approve(*, version: ProfileVersion, approver: User, note: str, now: datetime) -> None:
    if ProfileVersion.objects.filter(
        profile_id=version.profile_id,
        effective_from=version.effective_from,
        status__in=ProfileVersion.IN_FORCE_STATUSES,
    ).exists():
        raise Conflict("another approved version already takes effect at that instant")
    for older in ProfileVersion.objects.select_for_update().filter(
        profile_id=version.profile_id,
        status=ProfileVersion.Status.APPROVED,
        effective_from__lt=version.effective_from,
    ):
        older.status = ProfileVersion.Status.SUPERSEDED
        older.save(update_fields=["status"])
        audit_record(
            actor=approver,
            action="profile_version.supersede",
            obj=older,
            before={"status": ProfileVersion.Status.APPROVED},
            after={"status": older.status},
            at=now,
        )
    fields = ("status", "decided_by", "decided_at", "decision_note")
    before = audit_snapshot(version, fields=fields)
    version.status = ProfileVersion.Status.APPROVED
    version.decided_by = approver
    version.decided_at = now
    version.decision_note = note
    try:
        with transaction.atomic():
            version.save(update_fields=list(fields))
    except IntegrityError as err:
        raise Conflict(f"approval refused by the database: {err}") from err
    # Lead time from approval to in force (a backdated version is in force at once: 0).
    lead = max(0.0, (version.effective_from - now).total_seconds())
    transaction.on_commit(lambda: metrics.PROFILE_CHANGE_LEAD_TIME.observe(lead))
    audit_record(
        actor=approver,
        action="profile_version.approve",
        obj=version,
        before=before,
        after=audit_snapshot(version, fields=fields),
        reason=note,
        at=now,
    )


def approval_reject(
    *, request: ApprovalRequest, approver: User, reason: str, now: datetime | None = None
) -> ApprovalRequest:
    """Reject `request` and its version, for `reason` (required)."""
    _require_role(approver, APPROVERS, "rejecting a profile version")
    if not reason.strip():
        raise ValidationFailed("a rejection needs a reason", issues=[FieldIssue("reason", "required")])
    now = now or timezone.now()
    with transaction.atomic():
        locked, version = _locked_open(request, now=now)
        if version.author_id == approver.pk:
            raise PermissionDenied("the author of a version cannot reject it")
        fields = ("status", "decided_by", "decided_at", "decision_note")
        before = audit_snapshot(version, fields=fields)
        version.status = ProfileVersion.Status.REJECTED
        version.decided_by = approver
        version.decided_at = now
        version.decision_note = reason
        version.save(update_fields=list(fields))
        audit_record(
            actor=approver,
            action="profile_version.reject",
            obj=version,
            before=before,
            after=audit_snapshot(version, fields=fields),
            reason=reason,
            at=now,
        )
        request_before = _request_snapshot(locked)
        locked.status = ApprovalRequest.Status.REJECTED
        locked.decided_at = now
        locked.decision_note = reason
        locked.save(update_fields=["status", "decided_at", "decision_note"])
        audit_record(
            actor=approver,
            action="approval_request.reject",
            obj=locked,
            before=request_before,
            after=_request_snapshot(locked),
            reason=reason,
            at=now,
        )
        return locked


def approval_request_withdraw(
    *, request: ApprovalRequest, actor: User, reason: str = "", now: datetime | None = None
) -> ApprovalRequest:
    """The requester (or the version's author) takes an open request back, before it is decided: the
    version stays pending, to be edited in a new draft or asked for again."""
    _require_role(actor, EDITORS, "withdrawing an approval request")
    now = now or timezone.now()
    with transaction.atomic():
        locked, version = _locked_open(request, now=now)
        if actor.pk not in (locked.requested_by_id, version.author_id):
            raise PermissionDenied("only the requester or the author of the version can withdraw its request")
        before = _request_snapshot(locked)
        locked.status = ApprovalRequest.Status.WITHDRAWN
        locked.decided_at = now
        locked.decision_note = reason
        locked.save(update_fields=["status", "decided_at", "decision_note"])
        audit_record(
            actor=actor,
            action="approval_request.withdraw",
            obj=locked,
            before=before,
            after=_request_snapshot(locked),
            reason=reason,
            at=now,
        )
        return locked


def approval_requests_expire(*, now: datetime | None = None) -> int:
    """Expire every open request whose `expires_at` has passed; returns how many. Idempotent."""
    now = now or timezone.now()
    expired = 0
    with transaction.atomic():
        for request in (
            ApprovalRequest.objects.select_for_update(skip_locked=True)
            .filter(status=ApprovalRequest.Status.OPEN, expires_at__lte=now)
            .order_by("id")
        ):
            before = _request_snapshot(request)
            request.status = ApprovalRequest.Status.EXPIRED
            request.decided_at = now
            request.decision_note = f"no decision within {settings.APPROVAL_REQUEST_TTL}"
            request.save(update_fields=["status", "decided_at", "decision_note"])
            audit_record(
                actor=None,
                action="approval_request.expire",
                obj=request,
                before=before,
                after=_request_snapshot(request),
                reason=request.decision_note,
                at=now,
            )
            expired += 1
    return expired


def approval_requests_list(*, status: str | None = None) -> QuerySet[ApprovalRequest]:
    """Approval requests, newest first, with their version, profile, requester and approvals."""
    rows = ApprovalRequest.objects.select_related("version__profile", "requested_by").prefetch_related(
        "approvals__approver"
    )
    return rows.filter(status=status) if status else rows


def open_request_of(version: ProfileVersion) -> ApprovalRequest | None:
    return ApprovalRequest.objects.filter(version=version, status=ApprovalRequest.Status.OPEN).first()
