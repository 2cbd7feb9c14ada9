"""Finance's rollout pages: the list with the versions that can start as a canary, scheduling one through
the form (approvers only), the watch page with the cohort's estimated bills, the check-now action that
halts a breached canary, promote and roll back. Instants after the real clock (the database fixes a
cohort once its version is in force by now())."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from billing.governance.rollouts import rollout_schedule
from billing.profiles.models import ProfileVersion
from billing.profiles.rollout_models import Rollout
from tenants.models import Role
from tenants.services import membership_grant
from tests.factories import (
    ApprovedVersionFactory,
    BillingProfileFactory,
    ProfileAssignmentFactory,
    TenantFactory,
    UserFactory,
    finance_user,
    profile_document,
)
from tests.factories.ledger import sku, usage

pytestmark = pytest.mark.django_db

START = datetime(2031, 3, 1, tzinfo=UTC)
CANARY_AT = datetime(2031, 3, 10, tzinfo=UTC)
BEFORE = CANARY_AT - timedelta(days=1)
DURING = datetime(2031, 3, 15, 12, tzinfo=UTC)


def client_of(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def text_of(html: bytes) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html.decode()))).strip()


@pytest.fixture
def plan():
    sku("api_calls")
    profile = BillingProfileFactory.create(code="std", name="Standard")
    old = ApprovedVersionFactory.create(
        profile=profile, number=1, effective_from=START, body=profile_document("std", unit_amount="0.10")
    )
    new = ApprovedVersionFactory.create(
        profile=profile, number=2, effective_from=CANARY_AT, body=profile_document("std", unit_amount="0.20")
    )
    tenants = [TenantFactory.create(slug=slug, name=slug.title()) for slug in ("alpha", "beta")]
    for tenant in tenants:
        ProfileAssignmentFactory.create(tenant=tenant, profile=profile, effective_from=START)
    usage(tenants[0], "api_calls", new, datetime(2031, 3, 12, 9, tzinfo=UTC), "1000")
    return {"old": old, "new": new, "tenants": tenants, "approver": finance_user(username="approver")}


@pytest.fixture
def canary(plan):
    return rollout_schedule(
        version=plan["new"],
        actor=plan["approver"],
        tenants=[plan["tenants"][0]],
        max_bill_change_pct="50",
        max_disputes=0,
        now=BEFORE,
    )


@time_machine.travel(BEFORE, tick=False)
def test_the_list_offers_an_approved_version_to_start_as_a_canary(plan):
    response = client_of(plan["approver"]).get(reverse("portal:finance:rollouts"))

    assert response.status_code == 200
    text = text_of(response.content)
    assert "Standard, version 2, takes effect 2031-03-10 00:00: schedule a canary" in text
    assert (
        reverse("portal:finance:rollout-new", kwargs={"version_id": plan["new"].pk}).encode()
        in response.content
    )


@time_machine.travel(BEFORE, tick=False)
def test_an_approver_schedules_a_canary_through_the_form(plan):
    url = reverse("portal:finance:rollout-new", kwargs={"version_id": plan["new"].pk})
    response = client_of(plan["approver"]).post(
        url,
        {
            "cohort_kind": "explicit",
            "tenants": [plan["tenants"][0].pk],
            "max_bill_change_pct": "25",
            "max_disputes": "2",
        },
    )

    rollout = Rollout.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:finance:rollout", kwargs={"rollout_id": rollout.pk})
    assert (rollout.cohort_kind, str(rollout.max_bill_change_pct), rollout.max_disputes) == (
        "explicit",
        "25.00",
        2,
    )
    assert list(rollout.tenants.values_list("tenant__slug", flat=True)) == ["alpha"]


@time_machine.travel(BEFORE, tick=False)
def test_a_percentage_without_its_figure_is_refused_at_the_field(plan):
    url = reverse("portal:finance:rollout-new", kwargs={"version_id": plan["new"].pk})
    response = client_of(plan["approver"]).post(
        url, {"cohort_kind": "percentage", "max_bill_change_pct": "10", "max_disputes": "0"}
    )

    assert response.status_code == 400
    assert "Give a percentage." in text_of(response.content)
    assert not Rollout.objects.exists()


@time_machine.travel(BEFORE, tick=False)
def test_an_editor_cannot_schedule_a_canary(plan):
    url = reverse("portal:finance:rollout-new", kwargs={"version_id": plan["new"].pk})
    response = client_of(finance_user(Role.FINANCE_EDITOR, username="editor")).post(
        url, {"cohort_kind": "percentage", "percent": "10", "max_bill_change_pct": "10", "max_disputes": "0"}
    )

    assert response.status_code == 403
    assert "Refused: scheduling a rollout needs one of the roles: finance_approver" in text_of(
        response.content
    )
    assert not Rollout.objects.exists()


@time_machine.travel(DURING, tick=False)
def test_the_watch_page_shows_the_cohorts_estimated_bills_and_breaches(canary):
    response = client_of(finance_user(Role.FINANCE_VIEWER, username="viewer")).get(
        reverse("portal:finance:rollout", kwargs={"rollout_id": canary.pk})
    )

    assert response.status_code == 200
    text = text_of(response.content)
    assert "Alpha (alpha) 2031-03 100.00 EUR 200.00 EUR 100.00 100 % 0" in text
    assert "estimated bill change 100.00 % for tenant alpha exceeds the 50.00 % guardrail" in text
    assert "Only finance approvers promote or roll back a rollout." in text


@time_machine.travel(DURING, tick=False)
def test_check_now_halts_a_breached_canary(canary):
    client = client_of(finance_user(Role.FINANCE_VIEWER, username="viewer"))
    url = reverse("portal:finance:rollout-check", kwargs={"rollout_id": canary.pk})

    response = client.post(url, follow=True)

    canary.refresh_from_db()
    assert canary.status == "halted"
    text = text_of(response.content)
    assert "A guardrail is breached: the rollout is halted." in text
    assert "Halted 2031-03-15 12:00 UTC: estimated bill change 100.00 %" in text


@time_machine.travel(DURING, tick=False)
def test_an_approver_promotes_a_canary(canary, plan):
    url = reverse("portal:finance:rollout-promote", kwargs={"rollout_id": canary.pk})

    response = client_of(plan["approver"]).post(url, {"reason": "looks fine"}, follow=True)

    canary.refresh_from_db()
    # from now + USAGE_FUTURE_TOLERANCE_SECONDS: usage stamped up to that far ahead may be rated already
    assert (canary.status, canary.promoted_at) == ("promoted", DURING + timedelta(seconds=300))
    assert "Promoted: every tenant of the price list is on this version from now on." in text_of(
        response.content
    )


@time_machine.travel(DURING, tick=False)
def test_an_approver_rolls_a_canary_back(canary, plan):
    url = reverse("portal:finance:rollout-rollback", kwargs={"rollout_id": canary.pk})

    response = client_of(plan["approver"]).post(url, {"reason": "too expensive"}, follow=True)

    canary.refresh_from_db()
    assert canary.status == "rolled_back"
    assert canary.rollback_version is not None
    assert canary.rollback_version.body == plan["old"].body
    assert ProfileVersion.objects.get(pk=plan["new"].pk).status == "rolled_back"
    text = text_of(response.content)
    assert "Rolled back: the previous prices are in force again from now, as a new version." in text
    assert "version 3 restores the previous prices from then on" in text


@time_machine.travel(DURING, tick=False)
def test_an_editor_gets_a_403_promoting(canary):
    url = reverse("portal:finance:rollout-promote", kwargs={"rollout_id": canary.pk})

    response = client_of(finance_user(Role.FINANCE_EDITOR, username="editor")).post(url)

    assert response.status_code == 403
    canary.refresh_from_db()
    assert canary.status == "canary"


def test_a_customer_gets_403_on_the_rollouts(canary, plan):
    customer = UserFactory.create(username="alpha-admin")
    membership_grant(user=customer, role=Role.CUSTOMER_ADMIN, tenant=plan["tenants"][0])

    client = client_of(customer)

    assert client.get(reverse("portal:finance:rollouts")).status_code == 403
    assert client.get(reverse("portal:finance:rollout", kwargs={"rollout_id": canary.pk})).status_code == 403


def test_an_unknown_rollout_is_a_404(plan):
    response = client_of(plan["approver"]).get(
        reverse("portal:finance:rollout", kwargs={"rollout_id": 999999})
    )

    assert response.status_code == 404
