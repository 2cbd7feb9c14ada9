"""Documents show money at the currency's minor unit and quantities without exponents."""

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.template import engines
from django.utils import timezone

from ledger.templatetags.ledger_format import money, plain, utc_day, utc_minute


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


BERLIN = ZoneInfo("Europe/Berlin")


def _django_date(value: date | None, fmt: str) -> str:
    """What the template's former `|date:fmt` rendered (TIME_ZONE = "UTC")."""
    with timezone.override("UTC"):
        return str(engines["django"].from_string(f'{{{{ v|date:"{fmt}" }}}}').render({"v": value}))


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (datetime(2026, 11, 1, tzinfo=UTC), "2026-11-01 00:00"),
        (datetime(2026, 11, 1, tzinfo=BERLIN), "2026-10-31 23:00"),  # a Berlin tenant's period start
        (datetime(2026, 3, 29, 3, 30, 59, tzinfo=BERLIN), "2026-03-29 01:30"),
        (None, ""),
    ],
)
def test_utc_minute_shows_the_instant_in_utc_like_djangos_date_filter(value, shown):
    assert utc_minute(value) == shown
    assert _django_date(value, "Y-m-d H:i") == shown


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (date(2026, 11, 30), "2026-11-30"),
        (datetime(2026, 12, 6, 0, 30, tzinfo=BERLIN), "2026-12-05"),
        (None, ""),
    ],
)
def test_utc_day_shows_the_utc_day_like_djangos_date_filter(value, shown):
    assert utc_day(value) == shown
    assert _django_date(value, "Y-m-d") == shown


@pytest.mark.django_db
def test_the_invoice_html_shows_rounded_amounts_and_plain_quantities(django_capture_on_commit_callbacks):
    from datetime import UTC, datetime

    from billing.close.services import close_period
    from ledger.pdf import invoice_html
    from tests.factories.ledger import after_grace, invoice_of, tax_rule, usage, world

    w = world()
    tax_rule("DE", "19")
    usage(w.tenant, "api_calls", w.version, datetime(2026, 11, 5, tzinfo=UTC), "1000")
    invoice = invoice_of(close_period(tenant=w.tenant, period_key="2026-11", now=after_grace()))

    html = invoice_html(invoice)

    assert '<td class="num">1,000</td>' in html
    assert "1E+3" not in html
    assert '<td class="num">€119.00</td>' in html
    assert "119.0000" not in html
