"""A canary breaches its guardrail and is rolled back, in a real browser: v2 of a price list doubles the
price of api_calls and runs as a canary for one tenant, whose usage this period makes its estimated bill
move 100 % against a 50 % guardrail. A finance approver opens the rollout's watch page, checks the
guardrails now: the rollout is halted with the guardrail and the figure named (and an alert raised); then
rolls it back: v2 becomes rolled back and a new v3 with v1's body is in force from now, for everyone.
Every page is screenshotted to var/screenshots/ and checked with axe-core under the real CSP.

The app's clock is moved to March 2031 (after the database's clock, which fixes a cohort once its version
is in force)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine

from billing.governance.rollouts import rollout_schedule
from billing.profiles.models import ProfileVersion
from billing.profiles.rollout_models import Rollout
from billing.profiles.selectors import resolve_version
from ledger.models import Alert
from tests.e2e.conftest import Pages, sign_in
from tests.factories import (
    ApprovedVersionFactory,
    BillingProfileFactory,
    ProfileAssignmentFactory,
    TenantFactory,
    finance_user,
    profile_document,
)
from tests.factories.ledger import sku, usage

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

START = datetime(2031, 3, 1, tzinfo=UTC)
CANARY_AT = datetime(2031, 3, 10, tzinfo=UTC)
NOW = datetime(2031, 3, 15, 12, tzinfo=UTC)
PASSWORD = "pw-for-tests"


def seed() -> dict[str, Any]:
    sku("api_calls")
    profile = BillingProfileFactory.create(code="std", name="Standard")
    v1 = ApprovedVersionFactory.create(
        profile=profile, number=1, effective_from=START, body=profile_document("std", unit_amount="0.10")
    )
    v2 = ApprovedVersionFactory.create(
        profile=profile, number=2, effective_from=CANARY_AT, body=profile_document("std", unit_amount="0.20")
    )
    alpha, beta = (TenantFactory.create(slug=s, name=s.title()) for s in ("alpha", "beta"))
    for tenant in (alpha, beta):
        ProfileAssignmentFactory.create(tenant=tenant, profile=profile, effective_from=START)
    usage(alpha, "api_calls", v2, datetime(2031, 3, 12, 9, tzinfo=UTC), "1000")
    approver = finance_user(username="fiona-approver")
    rollout = rollout_schedule(
        version=v2,
        actor=approver,
        tenants=[alpha],
        max_bill_change_pct="50",
        max_disputes=3,
        now=CANARY_AT - timedelta(days=1),
    )
    return {"v1": v1, "v2": v2, "alpha": alpha, "beta": beta, "rollout": rollout}


def test_a_breach_halts_the_canary_and_a_rollback_follows(pages: Pages):
    with time_machine.travel(NOW, tick=True):
        world = seed()
        rollout: Rollout = world["rollout"]
        page = pages.context().new_page()
        sign_in(page, "fiona-approver", PASSWORD)

        # the rollouts list, then the canary's watch page: a 100 % change against a 50 % guardrail
        page.goto("/portal/finance/rollouts/")
        pages.check(page, "finance-rollouts")
        page.get_by_role("link", name=f"Rollout #{rollout.pk}", exact=True).click()
        page.get_by_role("heading", level=1).wait_for()
        assert page.locator("#rollout-status").inner_text() == "Canary"
        row = page.get_by_role("row", name="Alpha (alpha)")
        assert "100.00 EUR" in row.inner_text()
        assert "200.00 EUR" in row.inner_text()
        pages.check(page, "finance-rollout-canary")

        # check now: the guardrail halts the canary, naming itself and the figure; an alert is raised
        page.get_by_role("button", name="Check the guardrails now").click()
        page.get_by_text("A guardrail is breached: the rollout is halted.").wait_for()
        assert page.locator("#rollout-status").inner_text() == "Halted"
        halted = page.get_by_role("alert").filter(has_text="Halted").inner_text()
        assert "estimated bill change 100.00 % for tenant alpha exceeds the 50.00 % guardrail" in halted
        pages.check(page, "finance-rollout-halted")
        rollout.refresh_from_db()
        assert rollout.status == Rollout.Status.HALTED
        assert Alert.objects.filter(kind=Alert.Kind.ROLLOUT, message__contains="v2 halted").count() == 1

        # roll back: v2 rolled back, v3 with v1's body in force from now for everyone
        page.get_by_label("Reason (recorded in the audit trail)").last.fill("alpha's bill doubled")
        page.get_by_role("button", name="Roll back now").click()
        page.get_by_text("Rolled back: the previous prices are in force again from now").wait_for()
        assert page.locator("#rollout-status").inner_text() == "Rolled back"
        pages.check(page, "finance-rollout-rolled-back")

        rollout.refresh_from_db()
        restored = rollout.rollback_version
        assert restored is not None
        assert ProfileVersion.objects.get(pk=world["v2"].pk).status == ProfileVersion.Status.ROLLED_BACK
        assert (restored.number, restored.status, restored.body) == (3, "approved", world["v1"].body)
        assert rollout.rolled_back_at is not None
        # the restore starts after the ingest's future tolerance, so no instant already rated changes
        assert restored.effective_from > rollout.rolled_back_at
        later = restored.effective_from + timedelta(minutes=1)
        assert resolve_version(tenant=world["alpha"], sku="api_calls", at=later) == restored
        assert (
            resolve_version(tenant=world["alpha"], sku="api_calls", at=datetime(2031, 3, 12, tzinfo=UTC))
            == (world["v2"])
        )
    assert pages.problems == [], "\n".join(pages.problems)
