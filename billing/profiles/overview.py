"""Reads for finance's workspace: the price lists with the tenants on each, and a profile's version
timeline as finance reads it. "In force" is derived, never stored: the version a tenant in no canary
cohort is priced by at `now` (billing.profiles.selectors.version_in_force_among, rating's own rule); an
approved version that starts later is "scheduled". A version whose canary rollout is active (canary or
halted) prices its cohort only: it is shown as such, and "in force" stays the version everyone else is
priced by until the rollout is promoted (from `promoted_at` on)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Q

from billing.profiles.models import BillingProfile, ProfileAssignment, ProfileVersion
from billing.profiles.selectors import CohortRule, version_in_force_among
from tenants.models import Tenant

# How finance reads a version's state (the stored status, with "in force" and "scheduled" derived).
STATE_LABELS: dict[str, str] = {
    "draft": "Draft",
    "pending_approval": "Pending approval",
    "scheduled": "Approved, scheduled",
    "canary": "Canary (its cohort only)",
    "halted": "Canary halted",
    "in_force": "In force",
    "approved": "Approved",
    "superseded": "Superseded",
    "rolled_back": "Rolled back",
    "rejected": "Rejected",
}


@dataclass(frozen=True)
class TimelineEntry:
    version: ProfileVersion
    state: str  # a key of STATE_LABELS

    @property
    def label(self) -> str:
        return STATE_LABELS.get(self.state, self.state)


@dataclass(frozen=True)
class TenantOnProfile:
    tenant: Tenant
    since: datetime
    until: datetime | None
    upcoming: bool  # the assignment starts after now


@dataclass(frozen=True)
class ProfileRow:
    profile: BillingProfile
    in_force: ProfileVersion | None
    pending: int
    drafts: int
    tenants: list[TenantOnProfile]


def _active_rollout(version: ProfileVersion) -> str | None:
    """ "canary" or "halted" while the version's rollout is active, else None (no rollout, or decided)."""
    try:
        rollout = version.rollout
    except ObjectDoesNotExist:
        return None
    status = str(rollout.status)
    return status if status in ("canary", "halted") else None


def _rules(versions: list[ProfileVersion]) -> dict[int, CohortRule]:
    """The versions' rollouts (loaded with them) as the resolver reads them for a tenant in no cohort."""
    rules: dict[int, CohortRule] = {}
    for version in versions:
        try:
            rollout = version.rollout
        except ObjectDoesNotExist:
            continue
        rules[version.pk] = CohortRule(rollout, frozenset())
    return rules


def version_in_force(versions: list[ProfileVersion], *, now: datetime) -> ProfileVersion | None:
    """Of one profile's versions, the one pricing at `now` for a tenant in no canary cohort (None before
    the first approved one starts): billing.profiles.selectors.version_in_force_among, the one rule."""
    return version_in_force_among(versions, _rules(versions), now)


def version_state(version: ProfileVersion, *, in_force: ProfileVersion | None, now: datetime) -> str:
    if in_force is not None and version.pk == in_force.pk:
        return "in_force"
    if version.status == ProfileVersion.Status.APPROVED:
        if version.effective_from > now:
            return "scheduled"
        return _active_rollout(version) or str(version.status)
    return str(version.status)


def profile_timeline(*, profile: BillingProfile, now: datetime) -> list[TimelineEntry]:
    """Every version of the profile, newest number first, each with its state at `now`."""
    versions = list(profile.versions.select_related("author", "decided_by", "rollout").order_by("-number"))
    in_force = version_in_force(versions, now=now)
    return [TimelineEntry(v, version_state(v, in_force=in_force, now=now)) for v in versions]


def _tenants_by_profile(
    *, now: datetime, profile_ids: list[int] | None = None
) -> dict[int, list[TenantOnProfile]]:
    """Per profile, the tenants assigned to it now or from a later instant (assignments not yet ended)."""
    assignments = ProfileAssignment.objects.filter(Q(effective_to__isnull=True) | Q(effective_to__gt=now))
    if profile_ids is not None:
        assignments = assignments.filter(profile_id__in=profile_ids)
    by_profile: dict[int, list[TenantOnProfile]] = defaultdict(list)
    for a in assignments.select_related("tenant").order_by("tenant__slug", "effective_from"):
        by_profile[a.profile_id].append(
            TenantOnProfile(a.tenant, a.effective_from, a.effective_to, upcoming=a.effective_from > now)
        )
    return by_profile


def tenants_on_profile(*, profile: BillingProfile, now: datetime) -> list[TenantOnProfile]:
    return _tenants_by_profile(now=now, profile_ids=[profile.pk]).get(profile.pk, [])


def profiles_overview(*, now: datetime) -> list[ProfileRow]:
    """Every price list: the version in force, how many versions wait (pending, drafts), its tenants."""
    profiles = list(BillingProfile.objects.order_by("code"))
    versions: dict[int, list[ProfileVersion]] = defaultdict(list)
    rows = ProfileVersion.objects.filter(profile__in=profiles).select_related("rollout")
    for version in rows.order_by("profile_id", "number"):
        versions[version.profile_id].append(version)
    tenants = _tenants_by_profile(now=now)
    return [
        ProfileRow(
            profile=p,
            in_force=version_in_force(versions[p.pk], now=now),
            pending=sum(v.status == ProfileVersion.Status.PENDING_APPROVAL for v in versions[p.pk]),
            drafts=sum(v.status == ProfileVersion.Status.DRAFT for v in versions[p.pk]),
            tenants=tenants.get(p.pk, []),
        )
        for p in profiles
    ]


def version_compared(*, version: ProfileVersion, now: datetime) -> ProfileVersion | None:
    """What a version is read against: the version in force now; for the version in force itself, or one
    that priced before, the version that priced just before it started."""
    versions = list(ProfileVersion.objects.filter(profile_id=version.profile_id).select_related("rollout"))
    in_force = version_in_force(versions, now=now)
    earlier = version.status in ("superseded", "rolled_back")
    if in_force is not None and in_force.pk != version.pk and not earlier:
        return in_force
    others = [v for v in versions if v.pk != version.pk]
    return version_in_force_among(others, _rules(others), version.effective_from - timedelta(microseconds=1))
