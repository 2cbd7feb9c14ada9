"""Finance's dashboards and alerts in a real browser, on a small closed demo with its alerts (seed_demo, a
few events a day, the close, demo_alerts): finance opens the executive, on-call and debug dashboards (each
drawn with its charts and their data tables), then Alerts: filters them by state, kind and tenant and
acknowledges acme's firing budget alert, which is then shown acknowledged, by whom. Every page is
screenshotted to var/screenshots/ and checked with axe-core under the real Content-Security-Policy."""

from __future__ import annotations

import re
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from billing.demo import DEMO_PASSWORD
from ledger.models import Alert
from tests.e2e.conftest import Pages, sign_in
from tests.e2e.test_focus_exports import closed_demo

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

FINANCE = "finance"


def heading(page: Any) -> str:
    locator = page.get_by_role("heading", level=1)
    locator.wait_for()
    return str(locator.inner_text())


def charts(page: Any) -> list[str]:
    """The titles of the page's charts (server-drawn SVG, role img), each with its bars or lines drawn."""
    figures = page.locator("figure.chart-figure")
    titles = []
    for i in range(figures.count()):
        svg = figures.nth(i).get_by_role("img")
        assert svg.locator("rect, path, polyline, line").count() > 0
        titles.append(str(svg.locator("title").first.text_content()))
    return titles


def test_finance_opens_the_dashboards_and_acknowledges_an_alert(pages: Pages):
    closed_demo()
    call_command("demo_alerts", stdout=StringIO())
    open_alerts = Alert.objects.exclude(state=Alert.State.RESOLVED).count()
    budget = Alert.objects.get(tenant__slug="acme", kind=Alert.Kind.BUDGET, state=Alert.State.FIRING)
    page: Any = pages.context().new_page()
    sign_in(page, FINANCE, DEMO_PASSWORD)

    # the dashboards, each with its charts
    page.goto("/portal/finance/")
    page.get_by_role("link", name="Dashboards").click()
    assert heading(page) == "Dashboards"
    pages.check(page, "finance-dashboards")
    page.get_by_role("link", name="Executive", exact=True).first.click()
    assert heading(page) == "Executive dashboard"
    assert len(charts(page)) >= 2, charts(page)
    assert page.locator("#outstanding-count").inner_text().isdigit()
    assert page.get_by_role("table", name=re.compile(r"^Running estimate this period")).count() == 1
    pages.check(page, "finance-dashboard-executive")

    page.get_by_role("navigation", name="Dashboards").get_by_role("link", name="On-call").click()
    assert heading(page) == "On-call dashboard"
    assert len(charts(page)) >= 1
    assert page.locator("#alerts-open").inner_text() == str(open_alerts)
    assert page.get_by_role("row", name=re.compile(r"Projected spend this period is 128 %")).count() == 1
    pages.check(page, "finance-dashboard-oncall")

    page.get_by_role("navigation", name="Dashboards").get_by_role("link", name="Debug").click()
    assert heading(page) == "Debug dashboard"
    assert len(charts(page)) >= 1
    per_sku = page.get_by_role("table", name="Events per SKU, by the hour of their timestamps")
    for mean in per_sku.locator("tbody td:nth-child(3)").all_inner_texts():  # to two places at most
        assert re.fullmatch(r"[\d,]+(\.\d{1,2})?", mean), mean
    pages.check(page, "finance-dashboard-debug")

    # Alerts: filtered by state, kind and tenant
    page.goto("/portal/finance/")
    page.get_by_role("link", name="Alerts", exact=True).click()
    assert heading(page) == "Alerts"
    pages.check(page, "finance-alerts")
    page.get_by_label("State").select_option("firing")
    page.get_by_label("Kind").select_option("budget")
    page.get_by_label("Tenant (slug)").fill("acme")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_load_state()
    listed = page.get_by_role("table", name=re.compile(r"^Alerts, newest first"))
    assert listed.locator("caption").inner_text() == "Alerts, newest first (1 of 1)"
    row = listed.locator("tbody tr")
    assert row.count() == 1
    assert row.locator("th").inner_text().startswith("Projected spend above the budget: Projected spend")
    pages.check(page, "finance-alerts-filtered")

    # acknowledges it: shown acknowledged, by finance
    row.get_by_role("button", name="Acknowledge").click()
    page.get_by_role("status").filter(has_text="Acknowledged.").wait_for()
    budget.refresh_from_db()
    assert budget.state == Alert.State.ACKNOWLEDGED
    assert budget.acknowledged_by == User.objects.get(username=FINANCE)
    page.get_by_label("State").select_option("acknowledged")
    page.get_by_label("Kind").select_option("budget")
    page.get_by_label("Tenant (slug)").fill("acme")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_load_state()
    row = page.get_by_role("row", name=re.compile(r"Projected spend this period is 128 %"))
    assert re.search(r"Acknowledged\s+by finance", row.inner_text()), row.inner_text()
    assert row.get_by_role("button", name="Acknowledge").count() == 0
    assert row.get_by_role("button", name="Resolve").count() == 1
    pages.check(page, "finance-alerts-acknowledged")

    # the dead-lettered deliveries of every tenant (the demo's failing endpoint)
    page.get_by_role("link", name="Dead-lettered webhook deliveries").click()
    heading(page)
    assert page.get_by_text("/fail").count() >= 1
    pages.check(page, "finance-alerts-dead-deliveries")

    assert pages.problems == [], "\n\n".join(pages.problems)
