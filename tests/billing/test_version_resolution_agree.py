"""Invariant 5 depends on every reader agreeing on "the profile version in force at an instant". One
resolver answers it (`billing.profiles.selectors`: `VersionTimeline`, `resolve_version`, and close's
`version_at` over the same functions); here it is checked against an oracle written independently as
plain ORM queries, for random assignment windows and version histories, and, with canary rollouts
(explicit and percentage cohorts, promoted or not, halted, rolled back), per tenant: `version_at`,
`windows()`, the rating statement's join over `timeline_rows`, close's `version_at` and `resolve_version`
all give the oracle's answer."""

from __future__ import annotations

import hashlib
import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.db.models import Q
from hypothesis import example, given, settings
from hypothesis import strategies as st

from billing.close.cache import CloseCache
from billing.close.periods import tenant_assignments, version_at
from billing.profiles.models import ProfileAssignment, ProfileVersion
from billing.profiles.rollout_models import Rollout, RolloutTenant
from billing.profiles.selectors import VersionTimeline, resolve_version
from billing.rating.sql import TimelineRow, timeline_rows
from tenants.models import Tenant
from tests.factories import (
    ApprovedVersionFactory,
    BillingProfileFactory,
    ProfileAssignmentFactory,
    SkuFactory,
    TenantFactory,
    finance_user,
    profile_document,
)

pytestmark = pytest.mark.django_db

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
_run = itertools.count()


def _day(n: int) -> datetime:
    return EPOCH + timedelta(days=n)


def _oracle(tenant_id: int, at: datetime) -> ProfileVersion | None:
    """The version in force by definition: the assignment whose [from, to) holds `at`, then its
    profile's in-force version with the greatest effective_from <= at, if it prices api_calls."""
    held = (
        ProfileAssignment.objects.filter(tenant_id=tenant_id, effective_from__lte=at)
        .filter(Q(effective_to__isnull=True) | Q(effective_to__gt=at))
        .first()
    )
    if held is None:
        return None
    version = (
        ProfileVersion.objects.filter(
            profile_id=held.profile_id, status__in=ProfileVersion.IN_FORCE_STATUSES, effective_from__lte=at
        )
        .order_by("-effective_from")
        .first()
    )
    if version is None or not any(e.get("sku") == "api_calls" for e in version.body.get("prices", [])):
        return None
    return version


@settings(max_examples=25, deadline=None)
@given(
    version_days=st.lists(
        st.lists(st.integers(0, 90), min_size=1, max_size=3, unique=True), min_size=2, max_size=2
    ),
    switch_days=st.lists(st.integers(1, 89), max_size=3, unique=True),
    start_day=st.integers(0, 30),
    probes=st.lists(st.integers(0, 100 * 24), min_size=1, max_size=12),
)
@example(version_days=[[0, 10], [5]], switch_days=[20], start_day=0, probes=[48, 300, 600])
def test_every_reader_resolves_the_same_version(version_days, switch_days, start_day, probes):
    n = next(_run)
    tenant = TenantFactory.create(slug=f"agree-{n}")
    profiles = [BillingProfileFactory.create(code=f"agree-{n}-{i}") for i in range(2)]
    for profile, days in zip(profiles, version_days, strict=True):
        for number, day in enumerate(sorted(days), start=1):
            ApprovedVersionFactory.create(
                profile=profile,
                number=number,
                effective_from=_day(day),
                status=ProfileVersion.Status.APPROVED,
                body=profile_document(profile.code),
            )
    # consecutive, non-overlapping windows alternating between the two profiles
    edges = [start_day, *sorted(d for d in switch_days if d > start_day)]
    for i, begin in enumerate(edges):
        end = edges[i + 1] if i + 1 < len(edges) else None
        ProfileAssignmentFactory.create(
            tenant=tenant,
            profile=profiles[i % 2],
            effective_from=_day(begin),
            effective_to=_day(end) if end is not None else None,
        )
    timeline = VersionTimeline([tenant.pk])
    cache = CloseCache()
    assignments = tenant_assignments([tenant.pk])[tenant.pk]

    for hours in probes:
        at = EPOCH + timedelta(hours=hours)
        expected = _oracle(tenant.pk, at)
        assert resolve_version(tenant=tenant, sku="api_calls", at=at) == expected, at
        assert timeline.version_at(tenant.pk, at) == expected, at
        assert version_at(assignments, at, cache) == expected, at


# --- Cohorts of canary rollouts -------------------------------------------------------------------------
# The rule (docs/rollouts.md): a version starts for a tenant at effective_from when it has no rollout or the
# tenant is in its cohort, else at its rollout's promotion (never before effective_from), else never; the
# version in force is the one started last (ties: the higher number). The instants lie after the real
# now, since the database fixes a cohort once its version is in force by the clock (now()).

FUTURE = datetime(2031, 1, 1, tzinfo=UTC)
_cohort_run = itertools.count()


def _in_draw(salt: str, tenant_id: int, percent: Decimal | None) -> bool:
    assert percent is not None, "a percentage cohort has a percent"
    digest = hashlib.sha256(f"{salt}:{tenant_id}".encode()).hexdigest()
    return int(digest[:8], 16) % 10000 < percent * 100


def _cohort_oracle(tenant_id: int, at: datetime) -> ProfileVersion | None:
    """The definition, as plain ORM queries per candidate."""
    held = (
        ProfileAssignment.objects.filter(tenant_id=tenant_id, effective_from__lte=at)
        .filter(Q(effective_to__isnull=True) | Q(effective_to__gt=at))
        .first()
    )
    if held is None:
        return None
    best: tuple[datetime, int, ProfileVersion] | None = None
    for version in ProfileVersion.objects.filter(
        profile_id=held.profile_id, status__in=["approved", "superseded", "rolled_back"]
    ):
        rollout = Rollout.objects.filter(version=version).first()
        if rollout is None:
            start: datetime | None = version.effective_from
        elif (rollout.cohort_kind == "explicit" and rollout.tenants.filter(tenant_id=tenant_id).exists()) or (
            rollout.cohort_kind == "percentage" and _in_draw(rollout.salt, tenant_id, rollout.percent)
        ):
            start = version.effective_from
        elif rollout.promoted_at is not None:
            start = max(rollout.promoted_at, version.effective_from)
        else:
            start = None
        if start is not None and start <= at and (best is None or (start, version.number) > best[:2]):
            best = (start, version.number, version)
    if best is None or not any(e.get("sku") == "api_calls" for e in best[2].body.get("prices", [])):
        return None
    return best[2]


def _sql_answer(rows: list[TimelineRow], tenant_id: int, sku_id: int, at: datetime) -> list[int]:
    """What the rating statement's join (billing/rating/sql.py _RESOLVE) finds in these timeline rows."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t.version_id FROM unnest(%s::bigint[], %s::bigint[], %s::timestamptz[], %s::timestamptz[], "
            "%s::bigint[]) AS t(tenant_id, sku_id, valid_from, valid_to, version_id) "
            "WHERE t.tenant_id = %s AND t.sku_id = %s AND t.valid_from <= %s AND (t.valid_to IS NULL OR %s < t.valid_to)",
            [
                [r[0] for r in rows],
                [r[1] for r in rows],
                [r[2] for r in rows],
                [r[3] for r in rows],
                [r[4] for r in rows],
                tenant_id,
                sku_id,
                at,
                at,
            ],
        )
        return [row[0] for row in cursor.fetchall()]


rollout_spec = st.one_of(
    st.none(),
    st.tuples(
        st.sampled_from(["explicit", "percentage"]),
        st.lists(st.integers(0, 2), max_size=3, unique=True),  # explicit members (tenant indexes)
        st.sampled_from(["0.01", "33.33", "50", "100"]),  # percentage
        st.sampled_from(["canary", "halted", "promoted", "rolled_back"]),
        st.integers(0, 20),  # days after effective_from of the promotion / rollback
    ),
)


def _make_rollout(
    version: ProfileVersion, spec: tuple[str, list[int], str, str, int], tenants: list[Tenant], approver: User
) -> None:
    kind, members, percent, outcome, after = spec
    rollout = Rollout.objects.create(
        version=version,
        cohort_kind=kind,
        percent=Decimal(percent) if kind == "percentage" else None,
        salt=f"salt-{version.pk}",
        max_bill_change_pct=Decimal(10),
        max_disputes=0,
        created_by=approver,
        created_at=FUTURE - timedelta(days=1),
    )
    if kind == "explicit":
        RolloutTenant.objects.bulk_create(RolloutTenant(rollout=rollout, tenant=tenants[i]) for i in members)
    at = version.effective_from + timedelta(days=after, hours=12 + version.number)  # never a version start
    if outcome == "halted":
        rollout.status, rollout.halted_at, rollout.halt_reason = "halted", at, "a guardrail"
        rollout.save()
    elif outcome == "promoted":
        rollout.status, rollout.promoted_at, rollout.promoted_by = "promoted", at, approver
        rollout.save()
    elif outcome == "rolled_back":
        restored = ApprovedVersionFactory.create(
            profile=version.profile,
            number=1000 + version.number,
            effective_from=at,
            body=profile_document(version.profile.code, unit_amount="0.05"),
        )
        version.status = ProfileVersion.Status.ROLLED_BACK
        version.save(update_fields=["status"])
        rollout.status, rollout.rolled_back_at, rollout.rolled_back_by = "rolled_back", at, approver
        rollout.rollback_version = restored
        rollout.save()


@settings(max_examples=30, deadline=None)
@given(
    version_days=st.lists(
        st.lists(st.integers(0, 60), min_size=1, max_size=3, unique=True), min_size=2, max_size=2
    ),
    specs=st.lists(rollout_spec, min_size=6, max_size=6),
    switch_days=st.lists(st.integers(1, 89), max_size=2, unique=True),
    probes=st.lists(st.integers(0, 100 * 24), min_size=1, max_size=10),
)
@example(
    version_days=[[0, 10], [5]],
    specs=[None, ("explicit", [0], "50", "promoted", 3), None, None, None, None],
    switch_days=[],
    probes=[24 * 11, 24 * 14, 24 * 13 + 12, 24 * 13 + 11],
)
@example(
    version_days=[[0, 10], [5]],
    specs=[None, ("percentage", [], "100", "rolled_back", 2), None, None, None, None],
    switch_days=[],
    probes=[24 * 11, 24 * 12 + 12, 24 * 12 + 11, 24 * 30],
)
def test_every_reader_resolves_the_same_version_per_tenant_with_cohorts(
    version_days, specs, switch_days, probes
):
    n = next(_cohort_run)
    sku = SkuFactory.create(code="api_calls")
    approver = finance_user()
    tenants = [TenantFactory.create(slug=f"cohort-{n}-{i}") for i in range(3)]
    profiles = [BillingProfileFactory.create(code=f"cohort-{n}-{i}") for i in range(2)]
    spec_iter = iter(specs)
    for profile, days in zip(profiles, version_days, strict=True):
        for number, day in enumerate(sorted(days), start=1):
            version = ApprovedVersionFactory.create(
                profile=profile,
                number=number,
                effective_from=FUTURE + timedelta(days=day),
                body=profile_document(profile.code, unit_amount=f"0.{number}"),
            )
            spec = next(spec_iter)
            if spec is not None and number > 1:
                _make_rollout(version, spec, tenants, approver)
    for t_index, tenant in enumerate(tenants):
        edges = [0, *sorted(switch_days)]
        for i, begin in enumerate(edges):
            end = edges[i + 1] if i + 1 < len(edges) else None
            ProfileAssignmentFactory.create(
                tenant=tenant,
                profile=profiles[(i + t_index) % 2],
                effective_from=FUTURE + timedelta(days=begin),
                effective_to=FUTURE + timedelta(days=end) if end is not None else None,
            )
    ids = [t.pk for t in tenants]
    timeline = VersionTimeline(ids)
    windows = list(timeline.windows())
    rows = timeline_rows(set(ids))
    cache = CloseCache()
    assignments = tenant_assignments(ids)

    for tenant in tenants:
        mine = sorted((w for w in windows if w[0] == tenant.pk), key=lambda w: w[1])
        for before, after in itertools.pairwise(mine):
            assert before[2] is not None, "an open-ended window is the last"
            assert before[2] <= after[1], "windows overlap"
        for hours in probes:
            at = FUTURE + timedelta(hours=hours)
            expected = _cohort_oracle(tenant.pk, at)
            held = [w[3] for w in mine if w[1] <= at and (w[2] is None or at < w[2])]
            assert held == ([expected] if expected is not None else []), at
            assert timeline.version_at(tenant.pk, at) == expected, at
            assert resolve_version(tenant=tenant, sku="api_calls", at=at) == expected, at
            assert version_at(assignments[tenant.pk], at, cache) == expected, at
            assert _sql_answer(rows, tenant.pk, sku.pk, at) == ([expected.pk] if expected else []), at
