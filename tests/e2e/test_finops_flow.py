"""Reconciliation and showback in a real browser, on a small closed demo and its FinOps story (seed_demo, a
few events a day, the close, demo_finops: a provider export with one row 12.34 dearer than rated, the demo
run explaining it, acme's allocation rules approved by four eyes): finance opens Reconciliation, sees the
demo run, starts a run of the demo month from the page, filters it to the breached deltas, opens the
provider's delta and the rows behind it; then Showback: picks acme and the month and downloads the CSV,
whose amounts add up to the teams' totals. Every page is screenshotted to var/screenshots/ and checked
with axe-core under the real Content-Security-Policy."""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from billing.allocation.selectors import showback
from billing.demo import DEMO_PASSWORD
from billing.demo_finops import DELIBERATE, PROVIDER
from ledger.models import ReconciliationDelta, ReconciliationRun
from tenants.models import Tenant
from tests.e2e.conftest import Pages, sign_in
from tests.e2e.test_customer_flow import download
from tests.e2e.test_focus_exports import closed_demo

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

FINANCE = "finance"


def heading(page: Any) -> str:
    locator = page.get_by_role("heading", level=1)
    locator.wait_for()
    return str(locator.inner_text())


def test_finance_runs_a_reconciliation_opens_a_delta_and_downloads_a_showback(pages: Pages):
    period = closed_demo()
    call_command("demo_finops", stdout=StringIO())
    demo_run = ReconciliationRun.objects.get(period_key=period, trigger="demo")
    page: Any = pages.context().new_page()
    sign_in(page, FINANCE, DEMO_PASSWORD)

    # Reconciliation: the demo run is listed, with its note
    page.goto("/portal/finance/")
    page.get_by_role("link", name="Reconciliation").click()
    assert heading(page) == "Reconciliation"
    listed = page.get_by_role("row", name=re.compile(rf"^#{demo_run.pk}\b"))
    cells = listed.locator("td").all_inner_texts()
    assert (cells[0], cells[1], cells[3]) == (period, "Completed", "demo")
    assert cells[6].startswith("1 breached of ")  # provider against rated: the deliberate row
    assert cells[7].startswith("Demo: the provider export")
    pages.check(page, "finance-reconciliation")

    # starts a run of the demo month: it finds the same deliberate delta
    page.get_by_label("Period").fill(period)
    page.get_by_label("Note").fill("Month-end check from the browser test")
    page.get_by_role("button", name="Run now").click()
    run = ReconciliationRun.objects.exclude(pk=demo_run.pk).get(period_key=period)
    assert heading(page) == f"Reconciliation of {period}, run #{run.pk}"
    assert (run.status, run.trigger, run.started_by) == (
        "completed",
        "portal",
        User.objects.get(username=FINANCE),
    )
    assert run.provider_import is not None
    assert run.provider_import.provider == PROVIDER
    pages.check(page, "finance-reconciliation-run")

    # the breached deltas only: the provider's one
    page.get_by_label("Breached only").check()
    page.get_by_role("button", name="Filter").click()
    page.wait_for_load_state()
    breached = ReconciliationDelta.objects.filter(run=run, breached=True)
    delta = breached.get(check_name="provider_vs_rated")
    assert delta.delta == -DELIBERATE  # rated (actual) minus the provider's dearer row (expected)
    deltas = page.get_by_role("table", name=re.compile(r"^Deltas "))
    assert deltas.locator("tbody tr").count() == breached.count()
    pages.check(page, "finance-reconciliation-breached")

    # the delta and the rows behind it: the provider's row and rating's estimates
    assert delta.tenant is not None
    deltas.get_by_role("row", name=re.compile(rf"\b{delta.tenant.slug}\b.*\b{delta.sku_code}\b")).get_by_role(
        "link", name="Provider's FOCUS export against rated usage"
    ).click()
    assert heading(page) == (
        f"Provider's FOCUS export against rated usage: {delta.tenant.slug} {delta.sku_code}"
    )
    assert ", above the threshold" in page.get_by_role("main").inner_text()
    provider_rows = page.get_by_role("table", name="Rows of the provider's file")
    assert provider_rows.locator("tbody tr").count() == 1
    assert provider_rows.locator("tbody tr td").nth(1).inner_text() == delta.sku_code
    assert page.get_by_role("heading", name="Rated usage", exact=True).count() == 1
    pages.check(page, "finance-reconciliation-delta")

    # Showback: acme's month per team, and the CSV
    acme = Tenant.objects.get(slug="acme")
    report = showback(tenant=acme, period_key=period)
    teams = {team: amount for team, _currency, amount in report.teams()}
    assert teams
    page.goto("/portal/finance/")
    page.get_by_role("link", name="Showback").click()
    assert heading(page) == "Showback"
    page.get_by_label("Tenant").select_option("acme")
    page.get_by_label("Period").fill(period)
    page.get_by_role("button", name="Show").click()
    page.get_by_role("heading", name=f"Per team, {period}").wait_for()
    per_team = page.get_by_role("table", name="Allocated cost per team")
    assert per_team.locator("tbody th").all_inner_texts() == list(teams)
    rules = page.get_by_role("table", name=re.compile(r"^Rules and their versions"))
    assert rules.locator("tbody tr").count() == 2
    assert set(rules.locator("tbody td:nth-child(4)").all_inner_texts()) == {"Approved"}
    pages.check(page, "finance-showback")

    data = download(page, page.get_by_role("link", name="Download CSV"))
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    assert {(r["period"], r["tenant"]) for r in rows} == {(period, "acme")}
    sums: dict[str, Decimal] = defaultdict(Decimal)
    for r in rows:
        sums[r["team"]] += Decimal(r["amount"])
    assert sums == teams
    assert sum(sums.values()) == Decimal("1200.00") + Decimal("499.00")  # the two rules' shared costs

    assert pages.problems == [], "\n\n".join(pages.problems)
