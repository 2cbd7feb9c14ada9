"""A customer's budget in a real browser, on a small demo with usage in the current period (seed_demo, a
few events a day, the close): acme's admin opens Budget and sees the period's spend so far and its
projection; an invalid amount is refused with its message; then sets a budget, thresholds in % and in
money and a plan factor, and sees which thresholds the projection reaches; once the budget alerts are
evaluated, the reached ones are listed as open alerts. Every page is screenshotted to var/screenshots/
and checked with axe-core under the real Content-Security-Policy."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from django.utils import timezone

from billing.demo import DEMO_PASSWORD
from billing.monitoring.budgets import budget_status, budgets_evaluate
from billing.monitoring.models import TenantBudget
from billing.monitoring.selectors import budget_get, estimates_current
from billing.profiles.selectors import VersionTimeline
from common.money import quantize_money
from common.money_format import format_money
from ledger.models import Alert
from tenants.models import Tenant
from tests.e2e.conftest import Pages, sign_in
from tests.e2e.test_focus_exports import closed_demo

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CUSTOMER = "acme-admin"
CENT = Decimal("0.01")


def heading(page: Any) -> str:
    locator = page.get_by_role("heading", level=1)
    locator.wait_for()
    return str(locator.inner_text())


def figure(page: Any, name: str) -> str:
    """A figure of the period's table (the first section), by its row heading."""
    period = page.locator("section[aria-labelledby=period-heading]")
    return str(
        period.get_by_role("row")
        .filter(has=page.get_by_role("rowheader", name=name, exact=True))
        .locator("td")
        .inner_text()
    )


def test_a_customer_sets_a_budget_and_thresholds_and_sees_the_projection(pages: Pages):
    closed_demo()
    acme = Tenant.objects.get(slug="acme")

    def status_now() -> Any:
        now = timezone.now()
        return budget_status(
            tenant=acme,
            now=now,
            timeline=VersionTimeline([acme.pk]),
            estimates=estimates_current(tenant_ids=[acme.pk], now=now).get(acme.pk, []),
            budget=None,
        )

    status = status_now()
    assert status.projected > 0

    def money(value: Decimal) -> str:
        return format_money(quantize_money(value, status.currency), status.currency, acme.locale)

    page: Any = pages.context().new_page()
    sign_in(page, CUSTOMER, DEMO_PASSWORD)

    # the period's spend so far and its projection; no budget yet
    page.get_by_role("link", name="Budget").click()
    assert heading(page) == "Budget"
    assert figure(page, "Spent so far") == money(status.spent)
    # the projection is spend / elapsed part of the period: it moves while the page loads, so the page's
    # figure is the one computed just before or just after it
    after = status_now()
    assert figure(page, "Projected to the period's end") in {money(status.projected), money(after.projected)}
    assert figure(page, "Budget") == "none"
    pages.check(page, "budget")

    # an amount that is not one: refused, with its message, nothing saved
    page.get_by_label("Budget per billing period (empty: none)").fill("-5")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Save").click()
    assert answer.value.status == 400
    page.get_by_role("alert").filter(has_text="must be greater than 0").wait_for()
    assert budget_get(tenant=acme) is None
    pages.check(page, "budget-invalid")

    # a budget 10 % above the projection: its 80 % is reached, its 100 % not; and an amount below it
    amount = (status.projected * Decimal("1.1")).quantize(CENT, ROUND_HALF_UP)
    below = (status.projected / 2).quantize(CENT, ROUND_HALF_UP)
    page.get_by_label("Budget per billing period (empty: none)").fill(str(amount))
    page.get_by_label("Alert at these percentages of the budget (comma-separated)").fill("80, 100")
    page.get_by_label("Also alert at these amounts (comma-separated)").fill(str(below))
    page.get_by_label("Alert when the projection exceeds the plan by this factor").fill("1.5")
    page.get_by_role("button", name="Save").click()
    page.get_by_text("Your budget is saved.").wait_for()
    budget = TenantBudget.objects.get(tenant=acme)
    assert (budget.amount, budget.thresholds_pct, budget.thresholds_money, budget.plan_multiplier) == (
        amount,
        [80, 100],
        [str(below)],
        Decimal("1.5"),
    )
    assert figure(page, "Budget") == money(amount)
    assert figure(page, "Alert above the plan by") == "1.5\u00d7"  # 1.5 times
    thresholds = page.get_by_role("table", name="Alert thresholds")
    assert [row.locator("th, td").all_inner_texts() for row in thresholds.locator("tbody tr").all()] == [
        ["80 % of the budget", money(amount * 80 / 100), "Yes"],
        ["100 % of the budget", money(amount), "No"],
        ["Amount", money(below), "Yes"],
    ]
    pages.check(page, "budget-saved")

    # the next evaluation fires the two thresholds reached (and, late in a period below the commitment,
    # the commitment's alert); the page lists the open ones
    budgets_evaluate(tenant_ids=[acme.pk])
    firing = Alert.objects.filter(tenant=acme, kind=Alert.Kind.BUDGET, state=Alert.State.FIRING)
    assert sorted(firing.values_list("key", flat=True)) == sorted(
        [f"{status.period_key}:money:{below}", f"{status.period_key}:pct:80"]
    )
    page.reload()
    listed = page.get_by_role("heading", name="Open budget alerts").locator(
        "xpath=following-sibling::ul[1]/li"
    )
    opened = Alert.objects.filter(tenant=acme, kind__in=["budget", "commitment"]).exclude(state="resolved")
    assert listed.count() == opened.count()
    texts = listed.all_inner_texts()
    assert any(f"reaches 80 % of the budget ({money(amount * 80 / 100)})" in t for t in texts), texts
    assert any(f"reaches the spend threshold ({money(below)})" in t for t in texts), texts
    pages.check(page, "budget-alerts")

    assert pages.problems == [], "\n\n".join(pages.problems)
