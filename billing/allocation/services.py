"""Writes of allocation rules: a rule, its draft versions, submission and the four-eyes decision
(docs/showback.md). Profile versions' ApprovalRequest is tied to a profile version by its foreign key,
its backtest and the database's guards (billing 0018-0020), so rule versions keep an approval of their
own with the same rules: editors draft and submit, finance approvers decide, the author never approves
or rejects (services, a CHECK and a trigger), the number of approvals comes from settings
(ALLOCATION_REQUIRED_APPROVALS, default 1), and every write is in the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from billing.allocation.models import AllocationApproval, AllocationRule, AllocationRuleVersion
from billing.allocation.spec import SpecError, body_sha256, parse_spec
from billing.profiles.roles import APPROVERS, EDITORS, require_role
from common.errors import Conflict, FieldIssue, PermissionDenied, StateError, ValidationFailed
from common.periods import parse_period_key
from ledger.audit.services import audit_record, audit_snapshot
from tenants.models import Tenant
from tenants.selectors import user_is_finance

_DECISION = ("status", "decided_by", "decided_at", "decision_note")
AUTHOR_REFUSAL = "the author of an allocation rule version cannot decide it"


def required_approvals() -> int:
    return max(1, int(getattr(settings, "ALLOCATION_REQUIRED_APPROVALS", 1)))


def _validated(body: Any, effective_from: str) -> str:
    """The version's month (a monthly period key, common.periods' rule) once its body is valid."""
    try:
        parse_spec(body)
    except SpecError as err:
        raise ValidationFailed(
            f"allocation rule: {err}", issues=[FieldIssue(err.field, err.message)]
        ) from None
    return parse_period_key(effective_from, cycle="monthly", field="effective_from")


def allocation_rule_create(
    *, tenant: Tenant, code: str, name: str, actor: User, now: datetime | None = None
) -> AllocationRule:
    require_role(actor, EDITORS, "creating an allocation rule")
    now = now or timezone.now()
    with transaction.atomic():
        if AllocationRule.objects.filter(tenant=tenant, code=code).exists():
            raise Conflict(f"tenant {tenant.slug} already has an allocation rule {code!r}")
        rule = AllocationRule.objects.create(
            tenant=tenant, code=code, name=name, created_at=now, created_by=actor
        )
        audit_record(
            actor=actor,
            action="allocation_rule.create",
            obj=rule,
            before=None,
            after=audit_snapshot(rule),
            at=now,
        )
        return rule


def allocation_version_create(
    *,
    rule: AllocationRule,
    body: dict[str, Any],
    effective_from: str,
    actor: User,
    now: datetime | None = None,
) -> AllocationRuleVersion:
    """A new draft of `rule` (numbered after the last version). Versions are never edited: a change is a
    new draft."""
    require_role(actor, EDITORS, "drafting an allocation rule")
    effective_from = _validated(body, effective_from)
    now = now or timezone.now()
    with transaction.atomic():
        locked = AllocationRule.objects.select_for_update().get(pk=rule.pk)
        last = locked.versions.order_by("-number").values_list("number", flat=True).first() or 0
        version = AllocationRuleVersion.objects.create(
            rule=locked,
            number=last + 1,
            body=body,
            body_sha256=body_sha256(body),
            effective_from=effective_from,
            author=actor,
            created_at=now,
        )
        audit_record(
            actor=actor,
            action="allocation_version.create",
            obj=version,
            before=None,
            after=audit_snapshot(version),
            at=now,
        )
        return version


def allocation_version_submit(
    *, version: AllocationRuleVersion, actor: User, now: datetime | None = None
) -> AllocationRuleVersion:
    require_role(actor, EDITORS, "submitting an allocation rule")
    now = now or timezone.now()
    with transaction.atomic():
        locked = AllocationRuleVersion.objects.select_for_update().get(pk=version.pk)
        if locked.status != AllocationRuleVersion.Status.DRAFT:
            raise StateError(f"version {locked.number} is {locked.status}; only drafts can be submitted")
        before = audit_snapshot(locked, fields=("status", "submitted_at", "required_approvals"))
        locked.status = AllocationRuleVersion.Status.PENDING_APPROVAL
        locked.submitted_at = now
        locked.required_approvals = required_approvals()
        locked.save(update_fields=["status", "submitted_at", "required_approvals"])
        audit_record(
            actor=actor,
            action="allocation_version.submit",
            obj=locked,
            before=before,
            after=audit_snapshot(locked, fields=("status", "submitted_at", "required_approvals")),
            at=now,
        )
        return locked


def decision_refusal(*, version: AllocationRuleVersion, user: User) -> str | None:
    """Why `user` may not approve or reject `version` (None: they may, once it is pending): the same
    rules `allocation_version_approve` and `_reject` enforce, for pages to say before anyone tries."""
    if not user_is_finance(user=user, roles=APPROVERS):
        return "deciding an allocation rule version needs the finance approver's role"
    if version.author_id == user.pk:
        return AUTHOR_REFUSAL
    return None


def _pending(version: AllocationRuleVersion, approver: User, action: str) -> AllocationRuleVersion:
    require_role(approver, APPROVERS, action)
    locked = AllocationRuleVersion.objects.select_for_update().get(pk=version.pk)
    if locked.status != AllocationRuleVersion.Status.PENDING_APPROVAL:
        raise StateError(f"version {locked.number} is {locked.status}; only pending versions can be decided")
    if locked.author_id == approver.pk:
        raise PermissionDenied(AUTHOR_REFUSAL)
    return locked


def allocation_version_approve(
    *, version: AllocationRuleVersion, approver: User, note: str = "", now: datetime | None = None
) -> AllocationRuleVersion:
    """One approval; the last one needed approves the version, and the approved versions of the rule that
    start earlier are superseded."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = _pending(version, approver, "approving an allocation rule")
        if locked.approvals.filter(approver=approver).exists():
            raise Conflict(f"{approver.get_username()} has already approved version {locked.number}")
        try:
            with transaction.atomic():
                approval = AllocationApproval.objects.create(
                    version=locked, approver=approver, approved_at=now, note=note
                )
        except IntegrityError as err:
            raise Conflict(f"approval refused by the database: {err}") from err
        audit_record(
            actor=approver,
            action="allocation_approval.grant",
            obj=approval,
            before=None,
            after=audit_snapshot(approval),
            reason=note,
            at=now,
        )
        if locked.approvals.count() < locked.required_approvals:
            return locked
        for older in AllocationRuleVersion.objects.select_for_update().filter(
            rule_id=locked.rule_id, status=AllocationRuleVersion.Status.APPROVED
        ):
            if older.effective_from == locked.effective_from or older.effective_from < locked.effective_from:
                older.status = AllocationRuleVersion.Status.SUPERSEDED
                older.save(update_fields=["status"])
                audit_record(
                    actor=approver,
                    action="allocation_version.supersede",
                    obj=older,
                    before={"status": "approved"},
                    after={"status": older.status},
                    at=now,
                )
        return _decided(locked, AllocationRuleVersion.Status.APPROVED, approver=approver, note=note, now=now)


def allocation_version_reject(
    *, version: AllocationRuleVersion, approver: User, reason: str, now: datetime | None = None
) -> AllocationRuleVersion:
    if not reason.strip():
        raise ValidationFailed("a rejection needs a reason", issues=[FieldIssue("reason", "required")])
    now = now or timezone.now()
    with transaction.atomic():
        locked = _pending(version, approver, "rejecting an allocation rule")
        return _decided(
            locked, AllocationRuleVersion.Status.REJECTED, approver=approver, note=reason, now=now
        )


def _decided(
    locked: AllocationRuleVersion, status: str, *, approver: User, note: str, now: datetime
) -> AllocationRuleVersion:
    """Record the decision on a locked pending version (approved or rejected) and audit it."""
    before = audit_snapshot(locked, fields=_DECISION)
    locked.status = status
    locked.decided_by = approver
    locked.decided_at = now
    locked.decision_note = note
    locked.save(update_fields=list(_DECISION))
    action = "approve" if status == AllocationRuleVersion.Status.APPROVED else "reject"
    audit_record(
        actor=approver,
        action=f"allocation_version.{action}",
        obj=locked,
        before=before,
        after=audit_snapshot(locked, fields=_DECISION),
        reason=note,
        at=now,
    )
    return locked
