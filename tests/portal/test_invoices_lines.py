"""The portal's line drill-down page and its CSV."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.test import Client

from billing.close.services import close_period
from ledger.models import Invoice
from tenants.models import Role
from tenants.services import membership_grant
from tests.factories.ledger import after_grace, invoice_of, tax_rule, usage, world
from tests.factories.tenants import UserFactory

pytestmark = pytest.mark.django_db

TIERS = {
    "sku": "api_calls",
    "model": "graduated",
    "tiers": [
        {"up_to": 1000, "unit_amount": "0", "flat_amount": "1"},
        {"up_to": None, "unit_amount": "0.003"},
    ],
}


def _customer_of_closed_invoice() -> tuple[Client, Invoice]:
    w = world(slug="acme", tz="Europe/Berlin", prices=[TIERS])
    tax_rule("DE", "19")
    usage(w.tenant, "api_calls", w.version, datetime(2026, 11, 10, 9, 30, tzinfo=UTC), "800")
    usage(w.tenant, "api_calls", w.version, datetime(2026, 11, 11, 23, 30, tzinfo=UTC), "700")
    usage(w.tenant, "api_calls", w.version, datetime(2026, 11, 20, 12, tzinfo=UTC), "333")
    invoice = invoice_of(close_period(tenant=w.tenant, period_key="2026-11", now=after_grace()))
    user = UserFactory.create(username="pat")
    membership_grant(user=user, role=Role.CUSTOMER_VIEWER, tenant=w.tenant)
    client = Client()
    client.force_login(user)
    return client, invoice


def test_the_drilldown_page_lists_each_local_day_and_the_total():
    client, invoice = _customer_of_closed_invoice()
    line = invoice.lines.get(position=1)

    body = client.get(f"/portal/invoices/{invoice.pk}/lines/{line.pk}/").content.decode()

    for text in ("10 Nov 2026", "12 Nov 2026", "20 Nov 2026", "€1.50", "1,833", "€3.50", "Europe/Berlin"):
        assert text in body, text


def test_the_csv_has_one_row_per_day_in_plain_decimals():
    client, invoice = _customer_of_closed_invoice()
    line = invoice.lines.get(position=1)

    response = client.get(f"/portal/invoices/{invoice.pk}/lines/{line.pk}/csv/")

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="{invoice.number}-line-1.csv"'
    assert response.content.decode() == (
        "date,version,quantity,amount\n"
        "2026-11-10,v1,800,1.00\n"
        "2026-11-12,v1,700,1.50\n"
        "2026-11-20,v1,333,1.00\n"
    )


def test_the_invoice_links_each_line_to_its_drilldown():
    client, invoice = _customer_of_closed_invoice()
    line = invoice.lines.get(position=1)

    body = client.get(f"/portal/invoices/{invoice.pk}/").content.decode()

    assert f'href="/portal/invoices/{invoice.pk}/lines/{line.pk}/"' in body
