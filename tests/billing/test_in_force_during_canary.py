"""THE body in force of a price list (billing.profiles.selectors.profile_version_in_force) is the version a
tenant in no canary cohort gets: during a canary the replaced version, from the promotion on the canary's.
Policy files, the backtest's comparison, quotes and finance's pages all read it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from billing.governance.backtest import _in_force_body
from billing.governance.policy_files import folder_export
from billing.governance.rollouts import rollout_promote, rollout_schedule
from billing.profiles.overview import profiles_overview
from billing.profiles.selectors import profile_version_in_force
from tests.factories import (
    ApprovedVersionFactory,
    BillingProfileFactory,
    ProfileAssignmentFactory,
    TenantFactory,
    finance_user,
    profile_document,
)
from tests.factories.ledger import sku

pytestmark = pytest.mark.django_db

START = datetime(2031, 3, 1, tzinfo=UTC)
CANARY_AT = datetime(2031, 3, 10, tzinfo=UTC)
DURING = datetime(2031, 3, 15, 12, tzinfo=UTC)


@pytest.fixture
def canary():
    sku("api_calls")
    profile = BillingProfileFactory.create(code="std")
    old = ApprovedVersionFactory.create(
        profile=profile, number=1, effective_from=START, body=profile_document("std", unit_amount="0.10")
    )
    new = ApprovedVersionFactory.create(
        profile=profile, number=2, effective_from=CANARY_AT, body=profile_document("std", unit_amount="0.20")
    )
    tenant = TenantFactory.create(slug="alpha")
    ProfileAssignmentFactory.create(tenant=tenant, profile=profile, effective_from=START)
    approver = finance_user()
    rollout = rollout_schedule(
        version=new,
        actor=approver,
        tenants=[tenant],
        max_bill_change_pct="150",
        max_disputes=0,
        now=CANARY_AT - timedelta(days=1),
    )
    return {"profile": profile, "old": old, "new": new, "rollout": rollout, "approver": approver}


def test_during_a_canary_the_body_in_force_is_the_replaced_one(canary):
    assert profile_version_in_force(profile=canary["profile"], at=DURING) == canary["old"]


def test_profiles_export_writes_the_old_body_during_a_canary(canary, tmp_path):
    written, _skipped = folder_export(tmp_path, now=DURING)

    text = written[0].read_text(encoding="utf-8")
    assert text.startswith("# std v1, in force since 2031-03-01T00:00:00+00:00\n")
    assert "unit_amount: '0.10'" in text


def test_the_backtest_compares_with_the_replaced_body_during_a_canary(canary):
    assert _in_force_body(canary["new"], DURING) == canary["old"].body


def test_the_price_lists_page_shows_the_old_version_in_force_during_a_canary(canary):
    assert [row.in_force for row in profiles_overview(now=DURING)] == [canary["old"]]


def test_after_promotion_the_canary_is_in_force_from_its_promotion_on(canary, settings):
    settings.USAGE_FUTURE_TOLERANCE_SECONDS = 0
    rollout_promote(rollout=canary["rollout"], actor=canary["approver"], now=DURING)

    assert (
        profile_version_in_force(profile=canary["profile"], at=DURING - timedelta(seconds=1)) == canary["old"]
    )
    assert profile_version_in_force(profile=canary["profile"], at=DURING) == canary["new"]
    assert [row.in_force for row in profiles_overview(now=DURING - timedelta(seconds=1))] == [canary["old"]]
