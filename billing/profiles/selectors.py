"""Reads over billing profiles, and the one answer to "which version prices this tenant's usage at this
instant": `assignment_holding`, then `tenant_version_list` (the cohort rule of canary rollouts) and
`version_effective` over the versions sorted by when they start for the tenant. Every caller (ingest,
rating, close, estimates, quarantine, the single look-up `resolve_version`) goes through them; rating's
bulk SQL form is tested against them (tests/billing/test_version_resolution_agree.py).

The cohort rule (billing/profiles/rollout_models.py): a version starts for a tenant at its
`effective_from` when it has no rollout or the tenant is in its cohort, else when its rollout was promoted
(`promoted_at`, never before `effective_from`), else never. The version in force for the tenant at t is
the one with the greatest start <= t (ties: the higher number)."""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from django.db.models import QuerySet

from billing.catalog.models import Sku
from billing.profiles.models import BillingProfile, ProfileAssignment, ProfileVersion
from billing.profiles.rollout_models import Rollout, RolloutTenant
from billing.profiles.signatures import verification_failures
from tenants.models import Tenant


def assignment_holding(
    starts: Sequence[datetime], assignments: Sequence[ProfileAssignment], at: datetime
) -> ProfileAssignment | None:
    """Of one tenant's assignments sorted by `effective_from` (`starts` holds those instants; windows
    never overlap: an exclusion constraint), the one whose window [effective_from, effective_to) holds
    `at`."""
    i = bisect_right(starts, at) - 1
    if i < 0:
        return None
    held = assignments[i]
    if held.effective_to is not None and at >= held.effective_to:
        return None
    return held


def version_effective(
    starts: Sequence[datetime], versions: Sequence[ProfileVersion], at: datetime
) -> ProfileVersion | None:
    """Of one profile's in-force versions (approved or superseded) sorted by `effective_from` (`starts`
    holds those instants), the one with the latest `effective_from <= at`."""
    i = bisect_right(starts, at) - 1
    return versions[i] if i >= 0 else None


@dataclass(frozen=True)
class CohortRule:
    """A version's rollout as the resolver needs it: the rollout and, for an explicit cohort, its tenants."""

    rollout: Rollout
    explicit: frozenset[int]

    def start_for(self, version: ProfileVersion, tenant_id: int | None) -> datetime | None:
        """When `version` starts for the tenant (None: a tenant in no cohort), None for never."""
        if tenant_id is not None and self.rollout.holds(tenant_id, self.explicit):
            return version.effective_from
        promoted = self.rollout.promoted_at
        return max(promoted, version.effective_from) if promoted is not None else None


def cohort_rules(
    version_ids: Iterable[int], tenant_ids: Iterable[int] | None = None
) -> dict[int, CohortRule]:
    """The rollouts of these versions by version id (two queries); an explicit cohort's tenants are read
    for `tenant_ids` only when given (the others are in no cohort as far as the caller asks)."""
    rollouts = list(Rollout.objects.filter(version_id__in=set(version_ids)))
    if not rollouts:
        return {}
    members: dict[int, set[int]] = defaultdict(set)
    rows = RolloutTenant.objects.filter(rollout_id__in=[r.pk for r in rollouts])
    if tenant_ids is not None:
        rows = rows.filter(tenant_id__in=set(tenant_ids))
    for rollout_id, tenant_id in rows.values_list("rollout_id", "tenant_id"):
        members[rollout_id].add(tenant_id)
    return {r.version_id: CohortRule(r, frozenset(members[r.pk])) for r in rollouts}


def tenant_version_list(
    versions: Sequence[ProfileVersion], tenant_id: int | None, rules: Mapping[int, CohortRule]
) -> tuple[list[datetime], list[ProfileVersion]]:
    """Of one profile's in-force versions sorted by `effective_from`, those that ever start for the tenant,
    sorted by (start, number), and their starts: what `version_effective` bisects (the module docstring's
    rule; `tenant_id` None: a tenant in no cohort). Without rollouts among them, the versions as they are."""
    if not any(v.pk in rules for v in versions):
        return [v.effective_from for v in versions], list(versions)
    started: list[tuple[datetime, int, ProfileVersion]] = []
    for version in versions:
        rule = rules.get(version.pk)
        start = version.effective_from if rule is None else rule.start_for(version, tenant_id)
        if start is not None:
            started.append((start, version.number, version))
    started.sort(key=lambda s: (s[0], s[1]))
    return [s[0] for s in started], [s[2] for s in started]


def version_in_force_among(
    versions: Iterable[ProfileVersion], rules: Mapping[int, CohortRule], at: datetime
) -> ProfileVersion | None:
    """Of one profile's versions (any status; `rules`: their rollouts), the one a tenant in no canary cohort
    is priced by at `at`, by `tenant_version_list`'s rule (a canary prices its cohort only until promoted,
    and everyone from `promoted_at`)."""
    pricing = {str(s) for s in ProfileVersion.IN_FORCE_STATUSES}
    rows = sorted((v for v in versions if v.status in pricing), key=lambda v: (v.effective_from, v.number))
    return version_effective(*tenant_version_list(rows, None, rules), at)


def profile_version_in_force(*, profile: BillingProfile | int, at: datetime) -> ProfileVersion | None:
    """THE body in force of a price list at `at`: the version a tenant in no canary cohort gets (what
    quotes, the backtest's comparison, policy files and finance's pages call "in force"; two queries)."""
    profile_id = profile if isinstance(profile, int) else profile.pk
    versions = list(
        ProfileVersion.objects.filter(profile_id=profile_id, status__in=ProfileVersion.IN_FORCE_STATUSES)
    )
    return version_in_force_among(versions, cohort_rules([v.pk for v in versions], tenant_ids=[]), at)


def replaced_version(*, version: ProfileVersion) -> ProfileVersion | None:
    """The version `version` replaces for a tenant in no cohort: of its profile's other in-force versions,
    the one in force at its `effective_from` by the cohort rule (what a rollback restores, what a canary
    is compared with)."""
    others = list(
        ProfileVersion.objects.filter(
            profile_id=version.profile_id, status__in=ProfileVersion.IN_FORCE_STATUSES
        ).exclude(pk=version.pk)
    )
    rules = cohort_rules([v.pk for v in others], tenant_ids=[])
    return version_in_force_among(others, rules, version.effective_from)


def price_model(version_body: dict[str, object], sku_code: str) -> str | None:
    """The pricing model a version's body gives the SKU, or None when it does not price it."""
    for entry in version_body.get("prices", []):  # type: ignore[attr-defined]
        if entry.get("sku") == sku_code:
            return str(entry.get("model"))
    return None


class VersionTimeline:
    """Which profile version is in force for a tenant at an instant, for many tenants and instants at once:
    assignments, in-force versions and their rollouts are loaded once, each lookup is two bisections in
    memory (the same answer for every instant as `resolve_version`, without a query per event). A profile
    with a rollout among its versions has a version list per tenant (`tenant_version_list`)."""

    def __init__(self, tenant_ids: Iterable[int]):
        ids = set(tenant_ids)
        self._assignments: dict[int, tuple[list[datetime], list[ProfileAssignment]]] = {}
        by_tenant: dict[int, list[ProfileAssignment]] = defaultdict(list)
        for assignment in ProfileAssignment.objects.filter(tenant_id__in=ids).order_by(
            "tenant_id", "effective_from"
        ):
            by_tenant[assignment.tenant_id].append(assignment)
        for tenant_id, rows in by_tenant.items():
            self._assignments[tenant_id] = ([a.effective_from for a in rows], rows)
        profile_ids = {a.profile_id for rows in by_tenant.values() for a in rows}
        by_profile: dict[int, list[ProfileVersion]] = defaultdict(list)
        for version in ProfileVersion.objects.filter(
            profile_id__in=profile_ids, status__in=ProfileVersion.IN_FORCE_STATUSES
        ).order_by("profile_id", "effective_from"):
            by_profile[version.profile_id].append(version)
        self._versions: dict[int, tuple[list[datetime], list[ProfileVersion]]] = {
            pid: ([v.effective_from for v in rows], rows) for pid, rows in by_profile.items()
        }
        self._rules = cohort_rules((v.pk for rows in by_profile.values() for v in rows), ids)
        self._per_tenant: dict[tuple[int, int], tuple[list[datetime], list[ProfileVersion]]] = {}
        self._priced: dict[int, frozenset[str]] = {
            v.pk: frozenset(str(e.get("sku")) for e in v.body.get("prices", []))
            for rows in by_profile.values()
            for v in rows
        }

    @cached_property
    def unverified(self) -> dict[int, str]:
        """The loaded versions whose approval signatures do not verify (billing.profiles.signatures), by id,
        with the reason: computed once per timeline, on first use. Their windows stay theirs (an older
        version never takes over): callers make such usage wait, block the close, refuse the quote."""
        return verification_failures(v for _starts, rows in self._versions.values() for v in rows)

    def version_at(self, tenant_id: int, at: datetime) -> ProfileVersion | None:
        """The version of the profile assigned to the tenant at `at` with the latest effective_from <= at."""
        entry = self._assignments.get(tenant_id)
        if entry is None:
            return None
        assignment = assignment_holding(*entry, at)
        if assignment is None:
            return None
        return version_effective(*self._versions_for(tenant_id, assignment.profile_id), at)

    def _versions_for(self, tenant_id: int, profile_id: int) -> tuple[list[datetime], list[ProfileVersion]]:
        """The profile's versions as they start for the tenant (`tenant_version_list`), and their starts."""
        shared = self._versions.get(profile_id, ([], []))
        if not self._rules:
            return shared
        key = (tenant_id, profile_id)
        if key not in self._per_tenant:
            self._per_tenant[key] = tenant_version_list(shared[1], tenant_id, self._rules)
        return self._per_tenant[key]

    def prices(self, version: ProfileVersion, sku_code: str) -> bool:
        return sku_code in self.priced_codes(version)

    def priced_codes(self, version: ProfileVersion) -> frozenset[str]:
        return self._priced.get(version.pk, frozenset())

    def windows(self) -> Iterator[tuple[int, datetime, datetime | None, ProfileVersion]]:
        """(tenant, valid_from, valid_to or None for open-ended, version): per tenant, disjoint windows in
        which `version_at` answers that version (the last assignment started at or before the instant,
        unless it has ended; of its profile's versions, the one started last for the tenant at or before it)."""
        for tenant_id, (_starts, assignments) in self._assignments.items():
            for i, assignment in enumerate(assignments):
                a_from = assignment.effective_from
                next_from = assignments[i + 1].effective_from if i + 1 < len(assignments) else None
                a_to = _earliest(assignment.effective_to, next_from)
                if a_to is not None and a_to <= a_from:
                    continue
                v_starts, versions = self._versions_for(tenant_id, assignment.profile_id)
                for j, version in enumerate(versions):
                    v_to = v_starts[j + 1] if j + 1 < len(versions) else None
                    lo = max(a_from, v_starts[j])
                    hi = _earliest(a_to, v_to)
                    if hi is None or hi > lo:
                        yield tenant_id, lo, hi, version


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    """The earlier of two window ends, None meaning open-ended."""
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def resolve_version(*, tenant: Tenant | int, sku: Sku | str, at: datetime) -> ProfileVersion | None:
    """The profile version that prices `sku` for `tenant` at instant `at`, or None when the tenant has
    no profile then, its profile had no approved version yet, or that version does not price the SKU."""
    tenant_id = tenant if isinstance(tenant, int) else tenant.pk
    timeline = VersionTimeline([tenant_id])
    version = timeline.version_at(tenant_id, at)
    code = sku if isinstance(sku, str) else sku.code
    if version is None or not timeline.prices(version, code):
        return None
    return version


def versions_of(*, profile: BillingProfile) -> QuerySet[ProfileVersion]:
    return profile.versions.select_related("author", "decided_by").order_by("-number")


def pending_versions() -> QuerySet[ProfileVersion]:
    return ProfileVersion.objects.filter(status=ProfileVersion.Status.PENDING_APPROVAL).select_related(
        "profile", "author"
    )
