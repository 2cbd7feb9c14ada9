"""The demo's finance reference data."""

from __future__ import annotations

from datetime import date

import pytest

from billing.close.fx import fx_verify
from billing.close.models import ExchangeRate, TaxRule
from billing.close.selectors import exchange_rate_for, tax_rule_in_force
from billing.demo_finance import seed_finance_reference_data

pytestmark = pytest.mark.django_db


def test_it_seeds_tax_rules_and_signed_rates_for_90_days_idempotently():
    first = seed_finance_reference_data(today=date(2026, 11, 27))
    second = seed_finance_reference_data(today=date(2026, 11, 27))
    assert (first.tax_rules, first.exchange_rates) == (6, 90 * 5)
    assert (second.tax_rules, second.exchange_rates) == (0, 0)
    assert {r.jurisdiction for r in TaxRule.objects.all()} == {"DE", "FR", "US", "JP", "KW", "GB"}
    assert all(fx_verify(row) for row in ExchangeRate.objects.all())


def test_the_seeded_data_covers_a_jpy_close_at_the_last_month_end():
    seed_finance_reference_data(today=date(2026, 12, 3))
    assert tax_rule_in_force(jurisdiction="JP", on=date(2026, 11, 30)) is not None
    assert exchange_rate_for(currency="JPY", base="EUR", on=date(2026, 11, 30)) is not None
