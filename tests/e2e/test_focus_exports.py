"""FOCUS downloads in a real browser, on a small closed demo (seed_demo, a few events a day, the close):
a customer (acme's admin) opens Exports, downloads the CSV of the demo month and gets only acme's rows,
whose BilledCost adds up to each invoice's amount due; finance downloads every tenant's rows of the month
and one tenant's Parquet file. Every page is screenshotted to var/screenshots/ and checked with axe-core
under the real Content-Security-Policy."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from billing.demo import DEMO_PASSWORD
from ledger.exports.focus_columns import COLUMNS
from ledger.exports.focus_rows import focus_row_count
from ledger.models import Invoice
from tenants.models import Tenant
from tests.e2e.conftest import Pages, sign_in
from tests.e2e.test_customer_flow import download

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CUSTOMER = "acme-admin"
FINANCE = "finance"
ISSUED = (Invoice.Status.FINALIZED, Invoice.Status.PAID)


def closed_demo() -> str:
    """The demo seeded, two events per SKU and day, the last ended month closed; returns that month."""
    with override_settings(INVOICE_PDF_ON_FINALIZE=False):
        call_command("seed_demo", stdout=StringIO())
        call_command("demo_usage", "--events-per-day", "2", stdout=StringIO(), stderr=StringIO())
        try:
            call_command("close_period", "--no-progress", stdout=StringIO())
        except CommandError as err:  # exit 1 only flags a blocked invoice, as `make demo` allows
            if err.returncode != 1:
                raise
    newest = Invoice.objects.filter(status__in=ISSUED).order_by("-period_start").first()
    assert newest is not None
    return str(newest.period_key)


def rows_of(data: bytes) -> list[dict[str, str]]:
    text = data.decode("utf-8")
    header = next(csv.reader(io.StringIO(text)))
    assert header == [c.name for c in COLUMNS]
    assert "BilledCost" in header
    return list(csv.DictReader(io.StringIO(text)))


def billed_per_invoice(rows: list[dict[str, str]]) -> dict[str, Decimal]:
    sums: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        sums[row["InvoiceId"]] += Decimal(row["BilledCost"])
    return dict(sums)


def test_a_customer_downloads_the_focus_csv_of_its_own_tenant(pages: Pages):
    period = closed_demo()
    acme = Tenant.objects.get(slug="acme")
    invoices = Invoice.objects.filter(tenant=acme, period_key=period, status__in=ISSUED)
    assert invoices.exists()
    assert Invoice.objects.filter(period_key=period, status__in=ISSUED).exclude(tenant=acme).exists()
    page: Any = pages.context().new_page()

    sign_in(page, CUSTOMER, DEMO_PASSWORD)
    page.goto("/portal/invoices/")
    page.get_by_role("link", name="Exports").click()
    page.get_by_role("heading", level=1, name="FOCUS cost and usage export").wait_for()
    assert page.get_by_label("Billing period (month)").input_value() == period
    assert page.get_by_label("CSV").is_checked()
    assert period in page.get_by_role("main").inner_text()
    pages.check(page, "exports")

    data = download(page, page.get_by_role("button", name="Download"))
    rows = rows_of(data)
    assert len(rows) == focus_row_count(period=period, tenant=acme)
    assert {r["BillingAccountId"] for r in rows} == {"acme"}
    assert {r["BillingCurrency"] for r in rows} == {acme.currency}
    assert billed_per_invoice(rows) == {i.number: i.amount_due for i in invoices}

    # a month that is not one: the form says so, no file
    response = page.goto("/portal/exports/focus/?period=2026-13&format=csv")
    assert response is not None
    assert response.status == 400
    page.get_by_role("alert").filter(has_text="Pick a month (YYYY-MM).").wait_for()
    pages.check(page, "exports-bad-period")

    assert pages.problems == [], "\n\n".join(pages.problems)


def test_finance_downloads_every_tenants_focus_rows_and_one_tenants_parquet(pages: Pages):
    period = closed_demo()
    # an invoice without a line (a tenant with no usage and no fee) has no charge, so no row
    invoices = Invoice.objects.filter(period_key=period, status__in=ISSUED, lines__isnull=False).distinct()
    tenants = set(invoices.values_list("tenant__slug", flat=True))
    assert len(tenants) > 1
    page: Any = pages.context().new_page()

    sign_in(page, FINANCE, DEMO_PASSWORD)
    page.goto("/portal/finance/")
    page.get_by_role("link", name="FOCUS export").click()
    page.get_by_role("heading", level=1, name="FOCUS cost and usage export").wait_for()
    assert page.get_by_label("Billing period (month)").input_value() == period
    pages.check(page, "finance-exports")

    # every tenant's rows of the month
    page.get_by_label("Tenant").select_option("")
    data = download(page, page.get_by_role("button", name="Download"))
    rows = rows_of(data)
    assert len(rows) == focus_row_count(period=period, tenant=None)
    assert {r["BillingAccountId"] for r in rows} == tenants
    assert billed_per_invoice(rows) == {i.number: i.amount_due for i in invoices}

    # one tenant's rows as Parquet: its metadata names the FOCUS version, the period and the tenant
    import pyarrow.parquet as pq

    page.get_by_label("Tenant").select_option("acme")
    page.get_by_label("Parquet").check()
    parquet = download(page, page.get_by_role("button", name="Download"))
    assert parquet[:4] == b"PAR1"
    table = pq.read_table(io.BytesIO(parquet))
    acme = Tenant.objects.get(slug="acme")
    assert table.num_rows == focus_row_count(period=period, tenant=acme)
    assert set(table.column("BillingAccountId").to_pylist()) == {"acme"}
    assert table.column_names == [c.name for c in COLUMNS]
    metadata = table.schema.metadata
    assert (metadata[b"focus_version"], metadata[b"billing_period"], metadata[b"billing_account"]) == (
        b"1.2",
        period.encode(),
        b"acme",
    )
    pages.check(page, "finance-exports-after")

    assert pages.problems == [], "\n\n".join(pages.problems)
