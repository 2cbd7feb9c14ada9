"""Admin lists show amounts as the tenant reads them (display columns); the stored values are untouched."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from ledger.admin import CreditGrantAdmin, InvoiceAdmin
from ledger.models import CreditGrant, Invoice
from tests.factories.ledger import document_invoice
from tests.factories.tenants import TenantFactory

pytestmark = pytest.mark.django_db

NBSP = "\xa0"


def _invoice(locale: str, currency: str = "EUR") -> Invoice:
    tenant = TenantFactory.create(slug=f"t-{locale.lower()}", locale=locale, currency=currency)
    return document_invoice(
        tenant,
        lines=[{"description": "API calls", "amount": Decimal("1037.39")}],
        breakdown=[
            {
                "category": "S",
                "rate": Decimal("19"),
                "taxable_amount": Decimal("1037.39"),
                "tax_amount": Decimal("197.11"),
            }
        ],
    )


def test_the_invoice_list_shows_total_and_amount_due_in_the_tenants_locale(staff):
    _invoice("de_DE")

    page = staff.client.get(reverse("admin:ledger_invoice_changelist")).content.decode()

    assert f"1.234,50{NBSP}€" in page


def test_the_display_column_formats_and_leaves_the_stored_value():
    invoice = _invoice("en")
    column = InvoiceAdmin.amount_due_display

    assert column(None, invoice) == "€1,234.50"
    assert invoice.amount_due == Decimal("1234.5000")
    assert column.admin_order_field == "amount_due"  # type: ignore[attr-defined]


def test_a_yen_grant_is_shown_without_decimals():
    tenant = TenantFactory.create(slug="jp", locale="ja_JP", currency="JPY")
    grant = CreditGrant(tenant=tenant, amount=Decimal("17500.0000"), currency="JPY")

    assert CreditGrantAdmin.amount_display(None, grant) == "￥17,500"
