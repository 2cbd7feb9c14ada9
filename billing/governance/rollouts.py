"""Writes for canary rollouts (models: billing/profiles/rollout_models.py; reads: rollout_watch.py).

- `rollout_schedule`: an approved version not yet in force starts, at its effective_from, for a cohort only
  (an explicit list of tenants, or a percentage by a stable hash of the tenant).
- `rollout_guardrails_check` (Celery beat, and the portal's "check now"): a canary whose cohort breaches
  a guardrail (estimated bill change %, disputes opened) is halted, its reason naming the guardrail and
  the figure, and an alert is raised. A halt stops nothing by itself: the cohort stays on the canary until
  someone promotes it or rolls it back.
- `rollout_promote`: everyone from `start_after_tolerance(now)` on (now plus the usage future
  tolerance, to the next whole second: usage ingested ahead of now may be rated already).
- `rollout_rollback`: without editing anything: the canary's version becomes rolled_back (it keeps the
  instants it priced, and its cohort until the restore starts) and a NEW approved version with the body of
  the version it replaced takes effect for everyone from `start_after_tolerance(now)`.
- A canary overtaken by a later approved version (`overtaking_version`) can be neither promoted nor rolled
  back; it prices its cohort until the later version starts and no longer blocks a new canary. That body was approved already: the new version carries the restored
  version's author, decider and approvals (their signatures cover the body's SHA-256, the approver, the
  time and the backtest hash, all unchanged), so it verifies without a new approval.

Every write records an audit entry in its own transaction (ledger.audit.services.audit_record)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from billing.governance.rollout_watch import rollout_watch
from billing.profiles.models import (
    Approval,
    ApprovalRequest,
    BillingProfile,
    ProfileAssignment,
    ProfileVersion,
)
from billing.profiles.rollout_models import Rollout, RolloutTenant
from billing.profiles.selectors import replaced_version
from billing.profiles.services import APPROVERS, _require_role
from common.errors import Conflict, FieldIssue, StateError, ValidationFailed
from ledger.audit.services import audit_record, audit_snapshot
from ledger.models import Alert
from ledger.services.alerts import alert_raise
from tenants.models import Role, Tenant
from tenants.selectors import user_is_finance

_PCT = Decimal("0.01")


def _decimal(
    value: object, field: str, *, low: Decimal, high: Decimal | None, low_open: bool = False
) -> Decimal:
    try:
        number = Decimal(str(value)).quantize(_PCT)
    except (InvalidOperation, ValueError) as err:
        raise ValidationFailed(
            f"{field} is not a number", issues=[FieldIssue(field, "not a number")]
        ) from err
    too_low = number <= low if low_open else number < low
    if too_low or (high is not None and number > high):
        bound = f"above {low}" if low_open else f"at least {low}"
        limit = f"{bound}" + (f" and at most {high}" if high is not None else "")
        raise ValidationFailed(f"{field} must be {limit}", issues=[FieldIssue(field, f"must be {limit}")])
    return number


def _on_profile(tenant_ids: Sequence[int], profile_id: int, at: datetime) -> set[int]:
    """Of these tenants, those with an assignment to the profile holding `at` or starting later."""
    return set(
        ProfileAssignment.objects.filter(tenant_id__in=tenant_ids, profile_id=profile_id)
        .exclude(effective_to__lte=at)
        .values_list("tenant_id", flat=True)
    )


def rollout_schedule(
    *,
    version: ProfileVersion,
    actor: User,
    tenants: Sequence[Tenant] | None = None,
    percent: Decimal | str | None = None,
    max_bill_change_pct: Decimal | str,
    max_disputes: int,
    salt: str | None = None,
    now: datetime | None = None,
) -> Rollout:
    """Roll `version` (approved, not yet in force) out to a cohort first: `tenants` (on its profile) or
    `percent` of the profile's tenants, never both. Guardrails: the largest change of a cohort tenant's
    estimated bill in percent, and the number of disputes the cohort may open, before the canary halts.
    A percentage cohort's draw uses `salt` (random when not given: a seeded demo picks one)."""
    _require_role(actor, APPROVERS, "scheduling a rollout")
    now = now or timezone.now()
    if (tenants is None) == (percent is None):
        raise ValidationFailed(
            "a cohort is either a list of tenants or a percentage",
            issues=[FieldIssue("cohort", "give tenants or a percentage, not both or neither")],
        )
    limit = _decimal(max_bill_change_pct, "max_bill_change_pct", low=Decimal(0), high=None)
    if max_disputes < 0:
        raise ValidationFailed("max_disputes is negative", issues=[FieldIssue("max_disputes", "at least 0")])
    share = (
        _decimal(percent, "percent", low=Decimal(0), high=Decimal(100), low_open=True)
        if percent is not None
        else None
    )
    with transaction.atomic():
        BillingProfile.objects.select_for_update().get(
            pk=version.profile_id
        )  # one canary per profile at a time
        locked = ProfileVersion.objects.select_for_update().get(pk=version.pk)
        if locked.status != ProfileVersion.Status.APPROVED:
            raise StateError(
                f"version {locked.number} is {locked.status}; only an approved version is rolled out"
            )
        if locked.effective_from <= now:
            raise StateError(f"version {locked.number} is already in force; a canary starts in the future")
        if Rollout.objects.filter(version=locked).exists():
            raise Conflict(f"version {locked.number} already has a rollout")
        active = Rollout.objects.filter(
            version__profile_id=locked.profile_id, status__in=Rollout.ACTIVE_STATUSES
        ).select_related("version")
        if any(overtaking_version(r.version) is None for r in active):
            raise Conflict(
                "another rollout of this price list is still a canary: promote or roll it back first"
            )
        if replaced_version(version=locked) is None:
            raise StateError(
                "nothing is in force before this version: there is nothing to compare a canary with"
            )
        members: list[int] = []
        if tenants is not None:
            members = sorted({t.pk for t in tenants})
            if not members:
                raise ValidationFailed(
                    "an explicit cohort needs a tenant", issues=[FieldIssue("tenants", "empty")]
                )
            outside = set(members) - _on_profile(members, locked.profile_id, locked.effective_from)
            if outside:
                slugs = ", ".join(
                    Tenant.objects.filter(pk__in=outside).order_by("slug").values_list("slug", flat=True)
                )
                raise ValidationFailed(
                    "a cohort tenant is not on this price list",
                    issues=[FieldIssue("tenants", f"not on the price list: {slugs}")],
                )
        rollout = Rollout.objects.create(
            version=locked,
            cohort_kind=Rollout.CohortKind.EXPLICIT if tenants is not None else Rollout.CohortKind.PERCENTAGE,
            percent=share,
            salt=salt or secrets.token_hex(8),
            max_bill_change_pct=limit,
            max_disputes=max_disputes,
            created_by=actor,
            created_at=now,
        )
        RolloutTenant.objects.bulk_create([RolloutTenant(rollout=rollout, tenant_id=pk) for pk in members])
        after = {**audit_snapshot(rollout), "tenants": members}
        audit_record(actor=actor, action="rollout.schedule", obj=rollout, before=None, after=after, at=now)
        return rollout


def _halt(rollout: Rollout, *, reasons: Sequence[str], now: datetime) -> Rollout:
    before = audit_snapshot(rollout)
    rollout.status = Rollout.Status.HALTED
    rollout.halted_at = now
    rollout.halt_reason = "; ".join(reasons)
    rollout.save(update_fields=["status", "halted_at", "halt_reason"])
    audit_record(
        actor=None,
        action="rollout.halt",
        obj=rollout,
        before=before,
        after=audit_snapshot(rollout),
        reason=rollout.halt_reason,
        at=now,
    )
    alert_raise(
        kind=Alert.Kind.ROLLOUT,
        tenant_id=None,
        message=f"rollout of {rollout.version.profile.code} v{rollout.version.number} halted: {rollout.halt_reason}",
        now=now,
    )
    return rollout


def rollout_guardrails_check(*, now: datetime | None = None, rollout: Rollout | None = None) -> list[Rollout]:
    """Check the guardrails of every canary in force (or of `rollout`); halt each one breached (with an
    alert). Returns the rollouts halted. The watch is computed before the row is locked (it prices every
    cohort tenant's period twice), and the halt re-checks the status under the lock."""
    now = now or timezone.now()
    canaries = Rollout.objects.select_related("version", "version__profile").filter(
        status=Rollout.Status.CANARY, version__effective_from__lte=now
    )
    if rollout is not None:
        canaries = canaries.filter(pk=rollout.pk)
    halted: list[Rollout] = []
    for canary in list(canaries.order_by("pk")):
        breaches = rollout_watch(rollout=canary, now=now).breaches
        if not breaches:
            continue
        with transaction.atomic():
            locked = Rollout.objects.select_for_update().select_related("version__profile").get(pk=canary.pk)
            if locked.status == Rollout.Status.CANARY:
                halted.append(_halt(locked, reasons=breaches, now=now))
    return halted


def overtaking_version(version: ProfileVersion) -> ProfileVersion | None:
    """The first version of the canary's price list approved to take effect after it, if any: once there
    is one, the canary can be neither promoted (everyone would move back to it) nor rolled back (that would
    undo the later one); it stays active, pricing its cohort until the later version starts, and no longer
    holds the profile's one canary slot (`rollout_schedule` ignores it)."""
    return (
        ProfileVersion.objects.filter(
            profile_id=version.profile_id,
            status__in=ProfileVersion.IN_FORCE_STATUSES,
            effective_from__gt=version.effective_from,
        )
        .order_by("effective_from", "number")
        .first()
    )


def start_after_tolerance(now: datetime) -> datetime:
    """When a promotion or a rollback takes effect: `now` plus USAGE_FUTURE_TOLERANCE_SECONDS, up to the
    next whole second. Ingest accepts usage up to that far ahead, and it may be rated already under the old
    answer: starting later keeps every instant already rated on the version that rated it."""
    start = now + timedelta(seconds=int(settings.USAGE_FUTURE_TOLERANCE_SECONDS))
    return start.replace(microsecond=0) + timedelta(seconds=1) if start.microsecond else start


def _locked_active(rollout: Rollout, *, action: str, now: datetime) -> Rollout:
    locked = (
        Rollout.objects.select_for_update().select_related("version", "version__profile").get(pk=rollout.pk)
    )
    if locked.status not in Rollout.ACTIVE_STATUSES:
        raise StateError(f"the rollout is {locked.status}; only a canary or a halted rollout can be {action}")
    if locked.version.effective_from > now:
        raise StateError(
            f"the canary has not started yet (it starts {locked.version.effective_from.isoformat()})"
        )
    later = overtaking_version(locked.version)
    if later is not None:
        # Promoting would move everyone back from it to the canary; a rollback would undo it too.
        raise StateError(
            f"version {later.number} of the price list takes effect after the canary: the canary can no "
            f"longer be {action}"
        )
    return locked


def rollout_promote(*, rollout: Rollout, actor: User, note: str = "", now: datetime | None = None) -> Rollout:
    """Everyone on the profile gets the canary's version from `start_after_tolerance(now)` on."""
    _require_role(actor, APPROVERS, "promoting a rollout")
    now = now or timezone.now()
    with transaction.atomic():
        locked = _locked_active(rollout, action="promoted", now=now)
        before = audit_snapshot(locked)
        locked.status = Rollout.Status.PROMOTED
        locked.promoted_at = start_after_tolerance(now)
        locked.promoted_by = actor
        locked.save(update_fields=["status", "promoted_at", "promoted_by"])
        audit_record(
            actor=actor,
            action="rollout.promote",
            obj=locked,
            before=before,
            after=audit_snapshot(locked),
            reason=note,
            at=now,
        )
        return locked


def _next_number(profile_id: int) -> int:
    return int(ProfileVersion.objects.filter(profile_id=profile_id).aggregate(m=Max("number"))["m"] or 0) + 1


def _decider(restored: ProfileVersion, actor: User) -> User:
    """The restored version's decider when still a finance approver (the database checks it), else the
    approver rolling back, who must not be the body's author."""
    decider = restored.decided_by
    if decider is not None and user_is_finance(user=decider, roles=frozenset({Role.FINANCE_APPROVER})):
        return decider
    if actor.pk == restored.author_id:
        raise StateError(
            "the restored version's decider no longer holds the approver role, and its author cannot decide it"
        )
    return actor


def _restore_version(
    restored: ProfileVersion, *, actor: User, now: datetime, start: datetime, rolled_back: ProfileVersion
) -> ProfileVersion:
    """A new version of the restored body, effective from `start`, walked through the only moves the database
    allows (a draft, submitted, approved), with the restored version's approvals copied onto a request of
    its own: the signatures cover the body's SHA-256, the approver, the time and the backtest hash."""
    new = ProfileVersion.objects.create(
        profile_id=restored.profile_id,
        number=_next_number(restored.profile_id),
        body=restored.body,
        body_sha256=restored.body_sha256,
        effective_from=start,
        author_id=restored.author_id,
    )
    new.status, new.submitted_at = ProfileVersion.Status.PENDING_APPROVAL, now
    new.save(update_fields=["status", "submitted_at"])
    source = (
        ApprovalRequest.objects.filter(version=restored, status=ApprovalRequest.Status.APPROVED)
        .order_by("-created_at", "-id")
        .first()
    )
    if source is not None:
        request = ApprovalRequest.objects.create(
            version=new,
            requested_by_id=source.requested_by_id,
            created_at=now,
            expires_at=now + settings.APPROVAL_REQUEST_TTL,
            periods=source.periods,
            backtest=source.backtest,
            backtest_hash=source.backtest_hash,
            required_approvals=source.required_approvals,
            matched_rules=source.matched_rules,
        )
        Approval.objects.bulk_create(
            Approval(
                request=request,
                approver_id=a.approver_id,
                approved_at=a.approved_at,
                signature=a.signature,
                note=f"copied from request {source.pk} (rollback of v{rolled_back.number})",
            )
            for a in source.approvals.all()
        )
        request.status, request.decided_at = ApprovalRequest.Status.APPROVED, now
        request.decision_note = f"restores v{restored.number}: rollback of v{rolled_back.number}"
        request.save(update_fields=["status", "decided_at", "decision_note"])
    new.status = ProfileVersion.Status.APPROVED
    new.decided_by = _decider(restored, actor)
    new.decided_at = now
    new.decision_note = f"rollback of v{rolled_back.number}: restores the body of v{restored.number}"
    new.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    return new


def rollout_rollback(
    *, rollout: Rollout, actor: User, reason: str = "", now: datetime | None = None
) -> Rollout:
    """At once: the canary's version becomes rolled_back and the body it replaced is in force again for
    everyone from now, as a new version (the module docstring). Usage before now keeps its version."""
    _require_role(actor, APPROVERS, "rolling a rollout back")
    now = now or timezone.now()
    with transaction.atomic():
        BillingProfile.objects.select_for_update().get(pk=rollout.version.profile_id)  # serialises numbering
        locked = _locked_active(rollout, action="rolled back", now=now)
        canary = ProfileVersion.objects.select_for_update().get(pk=locked.version_id)
        if canary.status != ProfileVersion.Status.APPROVED:
            raise StateError(
                f"version {canary.number} is {canary.status}, not approved: it cannot be rolled back"
            )
        restored = replaced_version(version=canary)
        if restored is None:
            raise StateError("nothing was in force before the canary: there is no body to restore")
        before = audit_snapshot(locked)
        version_before = audit_snapshot(canary, fields=["status"])
        try:
            new = _restore_version(
                restored, actor=actor, now=now, start=start_after_tolerance(now), rolled_back=canary
            )
        except IntegrityError as err:
            raise Conflict(f"the rollback was refused by the database: {err}") from err
        for older in (
            ProfileVersion.objects.select_for_update()
            .filter(
                profile_id=canary.profile_id, status=ProfileVersion.Status.APPROVED, effective_from__lt=now
            )
            .exclude(pk__in=[canary.pk, new.pk])
        ):
            older.status = ProfileVersion.Status.SUPERSEDED
            older.save(update_fields=["status"])
        canary.status = ProfileVersion.Status.ROLLED_BACK
        canary.save(update_fields=["status"])
        locked.status = Rollout.Status.ROLLED_BACK
        locked.rolled_back_at = now
        locked.rolled_back_by = actor
        locked.rollback_version = new
        locked.save(update_fields=["status", "rolled_back_at", "rolled_back_by", "rollback_version"])
        audit_record(
            actor=actor,
            action="profile_version.rolled_back",
            obj=canary,
            before=version_before,
            after=audit_snapshot(canary, fields=["status"]),
            reason=reason,
            at=now,
        )
        audit_record(
            actor=actor,
            action="profile_version.restore",
            obj=new,
            before=None,
            after={**audit_snapshot(new, exclude=["body"]), "restores": restored.pk},
            reason=reason,
            at=now,
        )
        audit_record(
            actor=actor,
            action="rollout.rollback",
            obj=locked,
            before=before,
            after=audit_snapshot(locked),
            reason=reason,
            at=now,
        )
        return locked
