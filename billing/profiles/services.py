"""Writes for billing profiles: drafts, submission, four-eyes approval, rejection, assignment.

Every version body is validated by the pure document validator (billing.pricing.document), stored in
canonical form with its SHA-256, and frozen by the database once it leaves draft."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from billing.catalog.models import Sku
from billing.pricing import DocumentError, canonical_json, document_sha256, validate_document
from billing.profiles import roles
from billing.profiles.models import BillingProfile, ProfileAssignment, ProfileVersion
from common.errors import Conflict, FieldIssue, PermissionDenied, StateError, ValidationFailed
from ledger.audit.services import Snapshot, audit_record, audit_snapshot
from tenants.models import Tenant


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


def _validated_draft(
    *, profile: BillingProfile, body: Any, effective_from: datetime | None
) -> dict[str, Any]:
    """The canonical body of a draft of `profile` (new or edited): a valid document naming this profile,
    without a tax jurisdiction that conflicts with a tenant on the profile, starting at an aware instant
    (None: an edit keeping its start)."""
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
    if effective_from is not None and timezone.is_naive(effective_from):
        raise ValidationFailed(
            "effective_from needs a time zone", issues=[FieldIssue("effective_from", "naive")]
        )
    return canonical


# Re-exported: the other profile services and the portal take them from here.
EDITORS = roles.EDITORS
APPROVERS = roles.APPROVERS
_require_role = roles.require_role


def _version_snapshot(version: ProfileVersion) -> Snapshot:
    """What the audit trail keeps of a version: its number, status, start and whole body."""
    return audit_snapshot(
        version, fields=["profile", "number", "status", "effective_from", "body", "body_sha256", "author"]
    )


def profile_create(
    *, code: str, name: str, description: str = "", actor: User | None = None, reason: str = ""
) -> BillingProfile:
    """A new profile (audited as `actor`'s; None: the system)."""
    with transaction.atomic():
        if BillingProfile.objects.filter(code=code).exists():
            raise Conflict(f"profile {code!r} already exists")
        profile = BillingProfile.objects.create(code=code, name=name, description=description)
        audit_record(
            actor=actor,
            action="profile.create",
            obj=profile,
            before=None,
            after=audit_snapshot(profile),
            reason=reason,
        )
        return profile


def profile_version_create(
    *, profile: BillingProfile, body: Any, effective_from: datetime, author: User, reason: str = ""
) -> ProfileVersion:
    """A new draft version of `profile`. The document's `profile` key must name this profile. Audited
    (`profile_version.create`, the whole body) as the author's."""
    _require_role(author, EDITORS, "drafting a profile version")
    canonical = _validated_draft(profile=profile, body=body, effective_from=effective_from)
    with transaction.atomic():
        BillingProfile.objects.select_for_update().get(pk=profile.pk)  # serialises numbering
        number = (profile.versions.aggregate(m=Max("number"))["m"] or 0) + 1
        version = ProfileVersion.objects.create(
            profile=profile,
            number=number,
            body=canonical,
            body_sha256=document_sha256(canonical),
            effective_from=effective_from,
            author=author,
        )
        audit_record(
            actor=author,
            action="profile_version.create",
            obj=version,
            before=None,
            after=_version_snapshot(version),
            reason=reason,
        )
        return version


def profile_version_update_draft(
    *, version: ProfileVersion, body: Any, effective_from: datetime | None, actor: User, reason: str = ""
) -> ProfileVersion:
    """Change a draft's body and start. Only the draft's author may: four eyes would mean nothing if
    someone else could rewrite a draft and then approve it as "not the author". Audited
    (`profile_version.update`: the body and start before and after) as `actor`'s."""
    _require_role(actor, EDITORS, "editing a profile version")
    _require_author(version, actor)
    canonical = _validated_draft(profile=version.profile, body=body, effective_from=effective_from)
    with transaction.atomic():
        locked = ProfileVersion.objects.select_for_update().get(pk=version.pk)
        if locked.status != ProfileVersion.Status.DRAFT:
            raise StateError(f"version {locked.number} is {locked.status}; only drafts can be edited")
        _require_author(locked, actor)
        before = _version_snapshot(locked)
        locked.body = canonical
        locked.body_sha256 = document_sha256(canonical)
        if effective_from is not None:
            locked.effective_from = effective_from
        locked.save(update_fields=["body", "body_sha256", "effective_from"])
        audit_record(
            actor=actor,
            action="profile_version.update",
            obj=locked,
            before=before,
            after=_version_snapshot(locked),
            reason=reason,
        )
        return locked


def draft_edit_refusal(version: ProfileVersion, actor: User) -> str | None:
    """Why `actor` may not edit `version`'s draft (None: they may): only its author edits a draft."""
    if version.author_id == actor.pk:
        return None
    return (
        f"only the author of version {version.number} can edit its draft: "
        "copy it into a new draft of your own instead"
    )


def _require_author(version: ProfileVersion, actor: User) -> None:
    refusal = draft_edit_refusal(version, actor)
    if refusal is not None:
        raise PermissionDenied(refusal)


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


def profile_assign(
    *,
    tenant: Tenant,
    profile: BillingProfile,
    effective_from: datetime,
    actor: User | None = None,
    reason: str = "",
) -> ProfileAssignment:
    """Put `tenant` on `profile` from `effective_from` on. The assignment in force at that instant is
    closed there; later assignments are refused (move them first) so windows never overlap. A price
    list that names another tax jurisdiction than the tenant's is refused (one source of truth).
    Audited as `actor`'s (None: the system): `profile_assignment.end` for the one closed, `.create`."""
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
            before = audit_snapshot(current)
            current.effective_to = effective_from
            current.save(update_fields=["effective_to"])
            audit_record(
                actor=actor,
                action="profile_assignment.end",
                obj=current,
                before=before,
                after=audit_snapshot(current),
                reason=reason or f"replaced by profile {profile.code}",
            )
        assignment = ProfileAssignment.objects.create(
            tenant=tenant, profile=profile, effective_from=effective_from
        )
        audit_record(
            actor=actor,
            action="profile_assignment.create",
            obj=assignment,
            before=None,
            after=audit_snapshot(assignment),
            reason=reason,
        )
        return assignment
