"""The FOCUS downloads: the API (GET /api/v1/focus, streamed CSV), the customer's page (portal:exports, own
tenant only) and finance's (portal:finance:exports, every tenant or one)."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse

from ledger.exports.focus_columns import COLUMN_NAMES
from tenants.services import api_key_create
from tests.factories.ledger import document_invoice
from tests.personas import Persona

pytestmark = pytest.mark.django_db

API = reverse("focus-export")
PAGE = reverse("portal:exports")
DOWNLOAD = reverse("portal:exports-download")
FINANCE_PAGE = reverse("portal:finance:exports")
FINANCE_DOWNLOAD = reverse("portal:finance:exports-download")


def _invoice(tenant: Any, number: str) -> None:
    document_invoice(
        tenant,
        lines=[{"amount": Decimal("10.00"), "sku_code": "compute", "service_category": "Compute",
                "component": "usage:compute:1", "quantity": Decimal("100"), "unit_label": "hour",
                "tax_category": "S", "tax_rate": Decimal("19")}],
        breakdown=[{"category": "S", "rate": Decimal("19"), "taxable_amount": Decimal("10.00"),
                    "tax_amount": Decimal("1.90")}],
        number=number,
    )  # fmt: skip


def _csv(response: Any) -> list[dict[str, str]]:
    data = b"".join(response.streaming_content) if response.streaming else response.content
    return list(csv.DictReader(io.StringIO(data.decode())))


@pytest.fixture
def two_tenants(alice: Persona, charlie: Persona) -> tuple[Persona, Persona]:
    _invoice(alice.tenant, "A-1")
    _invoice(charlie.tenant, "C-1")
    return alice, charlie


def _bearer(tenant: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key_create(tenant=tenant).secret}"}


# --- API -------------------------------------------------------------------------------------------------


def test_a_tenant_key_streams_its_own_tenants_rows_as_csv(client, two_tenants):
    alice, _ = two_tenants

    response = client.get(API, {"period": "2026-10"}, headers=_bearer(alice.tenant))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="focus-1.2-2026-10-tenant-a.csv"'
    rows = _csv(response)
    assert [(r["InvoiceId"], r["ChargeCategory"], r["BilledCost"]) for r in rows] == [
        ("A-1", "Usage", "10.00"),
        ("A-1", "Tax", "1.90"),
    ]


def test_the_api_answers_csv_even_to_a_client_asking_for_csv(client, two_tenants):
    alice, _ = two_tenants

    response = client.get(API, {"period": "2026-10"}, headers=_bearer(alice.tenant) | {"Accept": "text/csv"})

    assert response.status_code == 200
    assert list(_csv(response)[0]) == list(COLUMN_NAMES)


def test_a_tenant_key_naming_another_tenant_gets_404(client, two_tenants):
    alice, charlie = two_tenants

    response = client.get(
        API, {"period": "2026-10", "tenant": charlie.tenant.slug}, headers=_bearer(alice.tenant)
    )

    assert response.status_code == 404
    assert "C-1" not in response.content.decode()


def test_a_platform_key_reads_every_tenant_or_the_one_it_names(client, two_tenants):
    _, charlie = two_tenants
    headers = _bearer(None)

    every = _csv(client.get(API, {"period": "2026-10"}, headers=headers))
    one = _csv(client.get(API, {"period": "2026-10", "tenant": charlie.tenant.slug}, headers=headers))

    assert sorted({r["InvoiceId"] for r in every}) == ["A-1", "C-1"]
    assert {r["InvoiceId"] for r in one} == {"C-1"}


@pytest.mark.parametrize("query", [{}, {"period": "2026-13"}, {"period": "last month"}])
def test_the_api_refuses_a_missing_or_bad_period_with_400(client, two_tenants, query):
    alice, _ = two_tenants

    response = client.get(API, query, headers=_bearer(alice.tenant))

    assert response.status_code == 400
    assert response.json()["error"] == "invalid"


def test_the_api_needs_a_key(client, two_tenants):
    assert client.get(API, {"period": "2026-10"}).status_code == 401


# --- the customer's page ---------------------------------------------------------------------------------


def test_the_page_offers_the_months_with_issued_invoices(two_tenants):
    alice, _ = two_tenants

    response = alice.client.get(PAGE)

    assert response.status_code == 200
    text = response.content.decode()
    assert '<input type="month" name="period" value="2026-10"' in text
    assert "<code>2026-10</code>" in text


def test_a_customer_downloads_only_its_own_tenants_rows(two_tenants):
    alice, _ = two_tenants

    response = alice.client.get(DOWNLOAD, {"period": "2026-10", "format": "csv", "tenant": "tenant-b"})

    assert response.status_code == 200
    assert {(r["BillingAccountId"], r["InvoiceId"]) for r in _csv(response)} == {("tenant-a", "A-1")}


def test_a_customer_downloads_parquet_with_the_focus_version_in_it(two_tenants):
    import pyarrow.parquet as pq

    alice, _ = two_tenants

    response = alice.client.get(DOWNLOAD, {"period": "2026-10", "format": "parquet"})

    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="focus-1.2-2026-10-tenant-a.parquet"'
    file = pq.ParquetFile(io.BytesIO(b"".join(response.streaming_content)))
    assert file.schema_arrow.metadata[b"focus_version"] == b"1.2"
    assert file.read().column("InvoiceId").to_pylist() == ["A-1", "A-1"]


@pytest.mark.parametrize("month", ["2026-13", "0000-01", "2026-Q4"])
def test_a_bad_month_shows_the_form_again_with_400(two_tenants, month):
    alice, _ = two_tenants

    response = alice.client.get(DOWNLOAD, {"period": month, "format": "csv"})

    assert response.status_code == 400
    assert "Pick a month (YYYY-MM)." in response.content.decode()


def test_the_download_page_needs_a_sign_in(anonymous):
    response = anonymous.client.get(DOWNLOAD, {"period": "2026-10", "format": "csv"})

    assert response.status_code == 302
    assert response["Location"].startswith("/portal/login/")


# --- finance's page --------------------------------------------------------------------------------------


def test_finance_downloads_every_tenant_or_one(finance_editor, two_tenants):
    every = _csv(finance_editor.client.get(FINANCE_DOWNLOAD, {"period": "2026-10", "format": "csv"}))
    one = _csv(
        finance_editor.client.get(
            FINANCE_DOWNLOAD, {"period": "2026-10", "format": "csv", "tenant": "tenant-b"}
        )
    )

    assert sorted({r["InvoiceId"] for r in every}) == ["A-1", "C-1"]
    assert {r["InvoiceId"] for r in one} == {"C-1"}


def test_finance_picks_a_tenant_from_a_list_and_an_unknown_one_is_refused(finance_editor, two_tenants):
    page = finance_editor.client.get(FINANCE_PAGE)
    refused = finance_editor.client.get(
        FINANCE_DOWNLOAD, {"period": "2026-10", "format": "csv", "tenant": "nope"}
    )

    assert page.status_code == 200
    assert '<option value="tenant-b">' in page.content.decode()
    assert refused.status_code == 400


def test_a_customer_cannot_use_finances_download(two_tenants):
    alice, _ = two_tenants

    assert alice.client.get(FINANCE_DOWNLOAD, {"period": "2026-10", "format": "csv"}).status_code == 403
