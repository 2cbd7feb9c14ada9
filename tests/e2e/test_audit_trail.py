"""The audit trail in a real browser, on the seeded demo (`seed_demo`: its price lists, versions and
assignments are made through the services, so the trail holds them): finance opens Finance -> Audit trail,
filters it by action, and exports the filtered records as CSV; the chain verifies. Screenshots go to
var/screenshots/, each page is checked with axe-core under the real Content-Security-Policy."""

from __future__ import annotations

import csv
import io
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

from billing.demo import DEMO_PASSWORD
from ledger.audit.models import AuditRecord
from ledger.audit.verify import audit_verify
from tests.e2e.conftest import Pages, sign_in
from tests.e2e.test_customer_flow import download

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_finance_filters_the_audit_trail_and_exports_it(pages: Pages):
    call_command("seed_demo", stdout=StringIO())
    created = AuditRecord.objects.filter(action="profile_version.create").count()
    assert created > 0

    page: Any = pages.context().new_page()
    sign_in(page, "finance", DEMO_PASSWORD)
    page.goto("/portal/finance/")
    page.get_by_role("link", name="Audit trail").click()
    page.get_by_role("heading", level=1, name="Audit trail").wait_for()
    pages.check(page, "finance-audit")

    page.get_by_label("Action").select_option("profile_version.create")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_load_state()
    caption = page.locator("caption").inner_text()
    assert caption.endswith(f"of {created}, newest first")
    assert page.locator("tbody tr").first.locator("td").nth(2).inner_text() == "profile_version.create"
    pages.check(page, "finance-audit-filtered")

    data = download(page, page.get_by_role("link", name="Export these records as CSV"))
    rows = list(csv.reader(io.StringIO(data.decode())))
    assert len(rows) == created + 1
    assert {row[3] for row in rows[1:]} == {"profile_version.create"}
    assert audit_verify().ok
    assert pages.problems == []
