"""Invariant 5 depends on every reader agreeing on "the profile version in force at an instant". One
resolver answers it (`billing.profiles.selectors`: `VersionTimeline`, `resolve_version`, and close's
`version_at` over the same two functions); here it is checked against an oracle written independently as
two plain ORM queries, for random assignment windows and version histories."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import Q
from hypothesis import example, given, settings
from hypothesis import strategies as st

from billing.close.cache import CloseCache
from billing.close.periods import tenant_assignments, version_at
from billing.profiles.models import ProfileAssignment, ProfileVersion
from billing.profiles.selectors import VersionTimeline, resolve_version
from tests.factories import (
    ApprovedVersionFactory,
    BillingProfileFactory,
    ProfileAssignmentFactory,
    TenantFactory,
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
