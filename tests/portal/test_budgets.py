"""The budget page (portal/budgets): customers read the period's spend, projection and thresholds; customer
admins edit the budget (Decimal input validated, 400 with the message); viewers may not (403)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from django.test import Client

from billing.monitoring.budgets import budget_set
from billing.monitoring.models import TenantBudget
from tenants.models import Role
from tenants.services import membership_grant
from tests.factories import UserFactory
from tests.personas import Persona

pytestmark = pytest.mark.django_db

URL = "/portal/budgets/"
NOW = datetime(2026, 11, 16, tzinfo=UTC)


@pytest.fixture
def alice_admin(alice: Persona) -> Persona:
    assert alice.tenant is not None
    user = UserFactory.create(username="alice-admin")
    membership_grant(user=user, role=Role.CUSTOMER_ADMIN, tenant=alice.tenant)
    client = Client()
    client.force_login(user)
    return Persona(user=user, tenant=alice.tenant, client=client)


def _form(**values: str) -> dict[str, str]:
    return {
        "amount": "2500.00",
        "thresholds_pct": "80, 100",
        "thresholds_money": "",
        "plan_multiplier": "2",
        **values,
    }


def test_an_admin_sets_the_budget_and_sees_its_thresholds(alice_admin: Persona) -> None:
    with time_machine.travel(NOW, tick=False):
        response = alice_admin.client.post(URL, _form(thresholds_money="1000"))
        assert (response.status_code, response["Location"]) == (302, URL)
        page = alice_admin.client.get(URL).content.decode()
    budget = TenantBudget.objects.get(tenant=alice_admin.tenant)
    assert (str(budget.amount), budget.thresholds_pct, budget.thresholds_money) == (
        "2500.0000",
        [80, 100],
        ["1000"],
    )
    assert "Billing period 2026-11 (1 Nov 2026 \u2013 30 Nov 2026)" in page
    assert '<td class="num">€2,000.00</td>' in page  # 80 % of the budget
    assert '<td class="num">€1,000.00</td>' in page


def test_a_bad_amount_is_refused_with_its_message(alice_admin: Persona) -> None:
    response = alice_admin.client.post(URL, _form(amount="12.345"))
    assert response.status_code == 400
    assert "EUR amounts have at most 2 decimals" in response.content.decode()
    assert not TenantBudget.objects.exists()


def test_a_bad_percentage_is_refused_with_its_message(alice_admin: Persona) -> None:
    response = alice_admin.client.post(URL, _form(thresholds_pct="80, lots"))
    assert (
        response.status_code,
        "&#x27;lots&#x27; is not a whole percentage" in response.content.decode(),
    ) == (
        400,
        True,
    )


def test_a_viewer_reads_but_may_not_change_the_budget(alice: Persona) -> None:
    assert alice.tenant is not None
    budget_set(
        tenant=alice.tenant,
        amount="300",
        thresholds_pct=[100],
        thresholds_money=[],
        plan_multiplier="2",
        actor=None,
    )
    page = alice.client.get(URL)
    assert (
        page.status_code,
        "€300.00" in page.content.decode(),
        "Change the budget" in page.content.decode(),
    ) == (
        200,
        True,
        False,
    )
    assert alice.client.post(URL, _form(amount="1")).status_code == 403
    assert TenantBudget.objects.get(tenant=alice.tenant).amount == 300


def test_another_tenants_budget_is_never_shown(alice: Persona, charlie: Persona) -> None:
    assert alice.tenant is not None
    budget_set(
        tenant=alice.tenant,
        amount="777",
        thresholds_pct=[100],
        thresholds_money=[],
        plan_multiplier="2",
        actor=None,
    )
    page = charlie.client.get(URL).content.decode()
    assert ("777" in page, "Budget" in page) == (False, True)
