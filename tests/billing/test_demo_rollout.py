"""The demo's canary in progress (billing.governance.demo_rollout): on the seeded demo, Growth (USD)'s next
version runs for Initech alone since the start of the day; a second call changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from billing.demo import seed_demo
from billing.governance.demo_rollout import demo_rollout_start
from billing.governance.rollout_watch import cohort_tenants
from billing.profiles.rollout_models import Rollout
from billing.profiles.selectors import resolve_version
from tenants.models import Tenant
from tests.factories import finance_user

pytestmark = pytest.mark.django_db

NOW = datetime(2031, 5, 20, 15, 30, tzinfo=UTC)


@time_machine.travel(NOW, tick=False)
def test_the_demo_leaves_a_canary_in_progress_for_initech_only():
    seed_demo()

    rollout = demo_rollout_start()

    assert rollout is not None
    assert rollout.status == Rollout.Status.CANARY
    assert rollout.version.effective_from == datetime(2031, 5, 20, tzinfo=UTC)
    assert [t.slug for t in cohort_tenants(rollout=rollout, at=NOW)] == ["initech"]
    initech, umbrella = Tenant.objects.get(slug="initech"), Tenant.objects.get(slug="umbrella")
    assert resolve_version(tenant=initech, sku="api_calls", at=NOW) == rollout.version
    umbrellas = resolve_version(tenant=umbrella, sku="api_calls", at=NOW)
    assert umbrellas is not None
    assert umbrellas.number == 1
    assert demo_rollout_start() == rollout
    assert Rollout.objects.count() == 1


@time_machine.travel(NOW, tick=False)
def test_when_the_policy_asks_two_approvers_the_demos_second_approver_signs(settings):
    settings.APPROVAL_POLICY = {"default_approvals": 2, "rules": []}
    seed_demo()
    finance_user(username="controller")

    rollout = demo_rollout_start()

    assert rollout is not None
    request = rollout.version.approval_requests.get()
    assert sorted(request.approvals.values_list("approver__username", flat=True)) == ["controller", "finance"]
