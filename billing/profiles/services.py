"""Writes for billing profiles: drafts, submission, four-eyes approval, rejection, assignment.

Every version body is validated by the pure document validator (billing.pricing.document), stored in
canonical form with its SHA-256, and frozen by the database once it leaves draft."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from billing.catalog.models import Sku
from billing.pricing import DocumentError, canonical_json, document_sha256, validate_document
from billing.profiles.models import BillingProfile, ProfileAssignment, ProfileVersion
from common.errors import Conflict, FieldIssue, PermissionDenied, StateError, ValidationFailed
from tenants.models import Role, Tenant
from tenants.selectors import user_is_finance


def _validated_body(body: Any) -> dict[str, Any]:
    known = set(Sku.objects.filter(active=True).values_list("code", flat=True))
    try:
        validate_document(body, known_skus=known)
    except DocumentError as err:
        raise ValidationFailed(
            "invalid profile document",
            issues=[FieldIssue(e.path, e.message) for e in err.errors],
        ) from err
    canonical: dict[str, Any] = json.loads(canonical_json(body))
    return canonical


def _require_role(user: User, roles: frozenset[Role], action: str) -> None:
    if not user_is_finance(user=user, roles=roles):
        names = ", ".join(sorted(r.value for r in roles))
        raise PermissionDenied(f"{action} needs one of the roles: {names}")


EDITORS = frozenset({Role.FINANCE_EDITOR, Role.FINANCE_APPROVER})
APPROVERS = frozenset({Role.FINANCE_APPROVER})


def profile_create(*, code: str, name: str, description: str = "") -> BillingProfile:
    with transaction.atomic():
        if BillingProfile.objects.filter(code=code).exists():
            raise Conflict(f"profile {code!r} already exists")
        return BillingProfile.objects.create(code=code, name=name, description=description)


def profile_version_create(
    *, profile: BillingProfile, body: Any, effective_from: datetime, author: User
) -> ProfileVersion:
    """A new draft version of `profile`. The document's `profile` key must name this profile."""
    _require_role(author, EDITORS, "drafting a profile version")
    canonical = _validated_body(body)
    conflicts = _jurisdiction_conflicts(profile_id=profile.pk, body=canonical)
    if conflicts:
        raise ValidationFailed(
            "tax jurisdiction conflict: drop tax.jurisdiction from the price list (the tenant's applies)",
            issues=[FieldIssue("tax.jurisdiction", c) for c in conflicts],
        )
    if canonical.get("profile") != profile.code:
        raise ValidationFailed(
            "document names another profile",
            issues=[FieldIssue("profile", f"must be {profile.code!r}")],
        )
    if timezone.is_naive(effective_from):
        raise ValidationFailed(
            "effective_from needs a time zone", issues=[FieldIssue("effective_from", "naive")]
        )
    with transaction.atomic():
        BillingProfile.objects.select_for_update().get(pk=profile.pk)  # serialises numbering
        number = (profile.versions.aggregate(m=Max("number"))["m"] or 0) + 1
        return ProfileVersion.objects.create(
            profile=profile,
            number=number,
            body=canonical,
            body_sha256=document_sha256(canonical),
            effective_from=effective_from,
            author=author,
        )


def profile_version_update_draft(
    *, version: ProfileVersion, body: Any, effective_from: datetime | None, actor: User
) -> ProfileVersion:
    _require_role(actor, EDITORS, "editing a profile version")
    canonical = _validated_body(body)
    with transaction.atomic():
        locked = ProfileVersion.objects.select_for_update().get(pk=version.pk)
        if locked.status != ProfileVersion.Status.DRAFT:
            raise StateError(f"version {locked.number} is {locked.status}; only drafts can be edited")
        locked.body = canonical
        locked.body_sha256 = document_sha256(canonical)
        if effective_from is not None:
            locked.effective_from = effective_from
        locked.save(update_fields=["body", "body_sha256", "effective_from"])
        return locked


def profile_version_submit(*, version: ProfileVersion, actor: User) -> ProfileVersion:
    _require_role(actor, EDITORS, "submitting a profile version")
    with transaction.atomic():
        locked = ProfileVersion.objects.select_for_update().get(pk=version.pk)
        if locked.status != ProfileVersion.Status.DRAFT:
            raise StateError(f"version {locked.number} is {locked.status}; only drafts can be submitted")
        locked.status = ProfileVersion.Status.PENDING_APPROVAL
        locked.submitted_at = timezone.now()
        locked.save(update_fields=["status", "submitted_at"])
        return locked


def profile_version_approve(
    *, version: ProfileVersion, approver: User, note: str = "", allow_backdated: bool = False
) -> ProfileVersion:
    """Four eyes: the approver holds finance_approver and is not the author (also a DB CHECK).

    A version may not take effect in the past unless `allow_backdated` (operators seeding history):
    usage already rated keeps the version it was rated with (invariant 5)."""
    _require_role(approver, APPROVERS, "approving a profile version")
    with transaction.atomic():
        locked = ProfileVersion.objects.select_for_update().select_related("profile").get(pk=version.pk)
        if locked.status != ProfileVersion.Status.PENDING_APPROVAL:
            raise StateError(
                f"version {locked.number} is {locked.status}; only pending versions can be approved"
            )
        if locked.author_id == approver.pk:
            raise PermissionDenied("the author of a version cannot approve it")
        now = timezone.now()
        if locked.effective_from < now and not allow_backdated:
            raise ValidationFailed(
                "a version cannot take effect in the past",
                issues=[FieldIssue("effective_from", f"{locked.effective_from.isoformat()} is before now")],
            )
        if ProfileVersion.objects.filter(
            profile_id=locked.profile_id,
            effective_from=locked.effective_from,
            status__in=ProfileVersion.IN_FORCE_STATUSES,
        ).exists():
            raise Conflict("another approved version already takes effect at that instant")
        for older in ProfileVersion.objects.select_for_update().filter(
            profile_id=locked.profile_id,
            status=ProfileVersion.Status.APPROVED,
            effective_from__lt=locked.effective_from,
        ):
            older.status = ProfileVersion.Status.SUPERSEDED
            older.save(update_fields=["status"])
        locked.status = ProfileVersion.Status.APPROVED
        locked.decided_by = approver
        locked.decided_at = now
        locked.decision_note = note
        try:
            locked.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
        except IntegrityError as err:
            raise Conflict(f"approval refused by the database: {err}") from err
        return locked


def profile_version_reject(*, version: ProfileVersion, approver: User, reason: str) -> ProfileVersion:
    _require_role(approver, APPROVERS, "rejecting a profile version")
    if not reason.strip():
        raise ValidationFailed("a rejection needs a reason", issues=[FieldIssue("reason", "required")])
    with transaction.atomic():
        locked = ProfileVersion.objects.select_for_update().get(pk=version.pk)
        if locked.status != ProfileVersion.Status.PENDING_APPROVAL:
            raise StateError(
                f"version {locked.number} is {locked.status}; only pending versions can be rejected"
            )
        if locked.author_id == approver.pk:
            raise PermissionDenied("the author of a version cannot reject it")
        locked.status = ProfileVersion.Status.REJECTED
        locked.decided_by = approver
        locked.decided_at = timezone.now()
        locked.decision_note = reason
        locked.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
        return locked


def _jurisdiction_conflicts(
    *, profile_id: int, body: dict[str, Any] | None = None, tenant: Tenant | None = None
) -> list[str]:
    """The place of supply is the tenant's (`Tenant.tax_jurisdiction`); a price list may still name a
    `tax.jurisdiction`, and then it must be that of every tenant it prices. Conflicts, as messages."""
    bodies = (
        [body]
        if body is not None
        else list(
            ProfileVersion.objects.filter(profile_id=profile_id)
            .exclude(status=ProfileVersion.Status.REJECTED)
            .values_list("body", flat=True)
        )
    )
    named = {
        str(b["tax"]["jurisdiction"])
        for b in bodies
        if isinstance(b.get("tax"), dict) and b["tax"].get("jurisdiction")
    }
    if not named:
        return []
    tenants = (
        [tenant]
        if tenant is not None
        else list(Tenant.objects.filter(profile_assignments__profile_id=profile_id).distinct())
    )
    return [
        f"the price list names tax jurisdiction {name}, tenant {t.slug} is supplied in {t.tax_jurisdiction}"
        for t in tenants
        for name in sorted(named)
        if name != t.tax_jurisdiction
    ]


def profile_assign(*, tenant: Tenant, profile: BillingProfile, effective_from: datetime) -> ProfileAssignment:
    """Put `tenant` on `profile` from `effective_from` on. The assignment in force at that instant is
    closed there; later assignments are refused (move them first) so windows never overlap. A price
    list that names another tax jurisdiction than the tenant's is refused (one source of truth)."""
    conflicts = _jurisdiction_conflicts(profile_id=profile.pk, tenant=tenant)
    if conflicts:
        raise ValidationFailed(
            "tax jurisdiction conflict: drop tax.jurisdiction from the price list (the tenant's applies)",
            issues=[FieldIssue("tax.jurisdiction", c) for c in conflicts],
        )
    with transaction.atomic():
        Tenant.objects.select_for_update().get(pk=tenant.pk)
        assignments = ProfileAssignment.objects.filter(tenant=tenant)
        if assignments.filter(effective_from__gte=effective_from).exists():
            raise Conflict("the tenant already has an assignment starting at or after that instant")
        current = assignments.filter(effective_from__lt=effective_from).order_by("-effective_from").first()
        if current is not None and (current.effective_to is None or current.effective_to > effective_from):
            if current.profile_id == profile.pk:
                return current
            current.effective_to = effective_from
            current.save(update_fields=["effective_to"])
        return ProfileAssignment.objects.create(tenant=tenant, profile=profile, effective_from=effective_from)
