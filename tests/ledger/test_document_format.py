"""Documents show money at the currency's minor unit and quantities without exponents."""

from decimal import Decimal

import pytest

from ledger.templatetags.ledger_format import money, plain


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (Decimal("75.5000"), "EUR", "75.50"),
        (Decimal("17500.0000"), "JPY", "17500"),
        (Decimal("1.2350"), "KWD", "1.235"),
        (Decimal("-3.8400"), "EUR", "-3.84"),
    ],
)
def test_money_shows_the_currency_digits(amount, currency, shown):
    assert money(amount, currency) == shown


@pytest.mark.parametrize(
    ("value", "shown"),
    [(Decimal("1000.000000000000"), "1000"), (Decimal("0.023000"), "0.023"), (Decimal("0E-12"), "0")],
)
def test_plain_never_uses_exponents(value, shown):
    assert plain(value) == shown


@pytest.mark.django_db
def test_the_invoice_html_shows_rounded_amounts_and_plain_quantities(django_capture_on_commit_callbacks):
    from datetime import UTC, datetime

    from billing.services.close import close_period
    from ledger.pdf import invoice_html
    from tests.factories_ledger import after_grace, invoice_of, tax_rule, usage, world

    w = world()
    tax_rule("DE", "19")
    usage(w.tenant, "api_calls", w.version, datetime(2026, 11, 5, tzinfo=UTC), "1000")
    invoice = invoice_of(close_period(tenant=w.tenant, period_key="2026-11", now=after_grace()))

    html = invoice_html(invoice)

    assert "1000 " in html
    assert "1E+3" not in html
    assert "119.00 EUR" in html
    assert "119.0000" not in html
