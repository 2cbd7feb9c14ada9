"""End-to-end close scenarios with totals computed by hand in each test."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from billing.close.services import close_period
from ledger.models import CorrectionMarker, CreditConsumption, Invoice, InvoiceLine
from ledger.selectors import account_balance
from ledger.services.credits import credit_grant_create
from tests.factories.ledger import (
    after_grace,
    approved_version,
    both_close_paths_fixture,
    document,
    fx_rate,
    invoice_of,
    tax_rule,
    usage,
    world,
)

pytestmark = pytest.mark.django_db


both_close_paths = both_close_paths_fixture(__name__)


NOV_5 = datetime(2026, 11, 5, 10, tzinfo=UTC)


def _close(tenant, key: str = "2026-11") -> Invoice:
    result = close_period(tenant=tenant, period_key=key, now=after_grace(key))
    assert result.status == "finalized", result.message
    return invoice_of(result)


def _amounts(invoice: Invoice) -> list[tuple[str, Decimal]]:
    return [(line.kind, line.amount) for line in invoice.lines.order_by("position")]


def test_mid_period_version_change_prices_each_segment_and_carries_the_tier_position():
    tiers = lambda rate: [  # noqa: E731
        {"up_to": "1000", "unit_amount": "0"},
        {"up_to": None, "unit_amount": rate},
    ]
    w = world(prices=[{"sku": "api_calls", "model": "graduated", "tiers": tiers("0.01")}])
    v2 = approved_version(
        w.profile,
        document(w.profile.code, prices=[{"sku": "api_calls", "model": "graduated", "tiers": tiers("0.02")}]),
        datetime(2026, 11, 16, tzinfo=UTC),
        2,
    )
    tax_rule("DE", "19")
    usage(w.tenant, "api_calls", w.version, NOV_5, "800")
    usage(w.tenant, "api_calls", v2, datetime(2026, 11, 20, tzinfo=UTC), "700")
    invoice = _close(w.tenant)
    # v1: units 1..800 all in the free tier = 0.00
    # v2: carries 800, so its 700 units are 801..1500: 200 free + 500 x 0.02 = 10.00 (no second free tier)
    assert _amounts(invoice) == [("usage", Decimal("0.00")), ("usage", Decimal("10.00"))]
    assert [line.profile_version_id for line in invoice.lines.order_by("position")] == [w.version.pk, v2.pk]
    assert (invoice.tax_total, invoice.total) == (Decimal("1.90"), Decimal("11.90"))


def test_overlapping_discounts_apply_by_priority_and_respect_stackable():
    w = world(
        prices=[
            {"sku": "api_calls", "model": "per_unit", "unit_amount": "0.10"},
            {"sku": "storage_gb", "model": "per_unit", "unit_amount": "1.00"},
        ],
        discounts=[
            {"code": "vip10", "percent": "10", "priority": 5, "stackable": True},
            {"code": "api20", "percent": "20", "skus": ["api_calls"], "priority": 10, "stackable": False},
            {"code": "fixed5", "amount": "5", "skus": ["storage_gb"], "priority": 1, "stackable": True},
            {"code": "expired", "percent": "50", "valid_to": "2026-10-31", "priority": 99, "stackable": True},
        ],
    )
    tax_rule("DE", "19")
    usage(w.tenant, "api_calls", w.version, NOV_5, "1000")  # 100.00
    usage(w.tenant, "storage_gb", w.version, NOV_5, "50")  # 50.00
    invoice = _close(w.tenant)
    # api20 (priority 10, not stackable): 20 % of api 100.00 = -20.00, and api is locked
    # vip10 (priority 5, whole invoice): only storage is left: 10 % of 50.00 = -5.00
    # fixed5 (priority 1, storage, stackable): -5.00 of the 45.00 left; 'expired' ended before the period
    assert _amounts(invoice) == [
        ("usage", Decimal("100.00")),
        ("usage", Decimal("50.00")),
        ("discount", Decimal("-20.00")),
        ("discount", Decimal("-5.00")),
        ("discount", Decimal("-5.00")),
    ]
    assert [line.discount_code for line in invoice.lines.filter(kind="discount").order_by("position")] == [
        "api20",
        "vip10",
        "fixed5",
    ]
    # tax on 120.00 = 22.80
    assert (invoice.subtotal, invoice.tax_total, invoice.total) == (
        Decimal("120.00"),
        Decimal("22.80"),
        Decimal("142.80"),
    )
    assert account_balance(code="discounts") == {"EUR": Decimal("30.00")}


def test_minimum_spend_adds_a_true_up_line():
    w = world(commitments={"minimum_spend": "250.00"})
    tax_rule("DE", "19")
    usage(w.tenant, "api_calls", w.version, NOV_5, "1000")  # 100.00
    invoice = _close(w.tenant)
    assert _amounts(invoice) == [("usage", Decimal("100.00")), ("minimum", Decimal("150.00"))]
    # 250.00 + 19 % = 297.50
    assert (invoice.tax_total, invoice.total) == (Decimal("47.50"), Decimal("297.50"))


def test_minimum_spend_adds_nothing_when_the_period_reaches_it():
    w = world(commitments={"minimum_spend": "50.00"})
    tax_rule("DE", "19")
    usage(w.tenant, "api_calls", w.version, NOV_5, "1000")
    assert _amounts(_close(w.tenant)) == [("usage", Decimal("100.00"))]


def test_credits_apply_after_tax_earliest_expiry_first_skipping_one_that_expired_mid_period():
    w = world()
    tax_rule("DE", "19")
    usage(w.tenant, "api_calls", w.version, NOV_5, "1000")  # 100.00 + 19.00 = 119.00
    granted = datetime(2026, 10, 1, tzinfo=UTC)
    expired = credit_grant_create(
        tenant=w.tenant,
        amount=Decimal("50.00"),
        currency="EUR",
        granted_at=granted,
        expires_at=datetime(2026, 11, 15, tzinfo=UTC),
        reason="expires mid-period",
    )
    later = credit_grant_create(
        tenant=w.tenant,
        amount=Decimal("100.00"),
        currency="EUR",
        granted_at=granted,
        expires_at=datetime(2027, 6, 30, tzinfo=UTC),
        reason="later",
    )
    sooner = credit_grant_create(
        tenant=w.tenant,
        amount=Decimal("30.00"),
        currency="EUR",
        granted_at=granted,
        expires_at=datetime(2026, 12, 31, tzinfo=UTC),
        reason="sooner",
    )
    invoice = _close(w.tenant)
    used = {c.grant_id: c.amount for c in CreditConsumption.objects.filter(invoice=invoice)}
    # 119.00 due: 30.00 from the grant expiring first, 89.00 from the next; never below zero
    assert used == {sooner.pk: Decimal("30.00"), later.pk: Decimal("89.00")}
    assert expired.pk not in used
    assert (invoice.credits_applied, invoice.amount_due) == (Decimal("119.00"), Decimal("0.00"))
    # prepaid liability: -180.00 granted + 119.00 consumed = -61.00 (50 expired-unused + 11 left)
    assert account_balance(code="prepaid:acme") == {"EUR": Decimal("-61.00")}
    assert account_balance(code="receivable:acme") == {"EUR": Decimal("0.00")}


def test_exclusive_tax_is_added_on_top_of_the_lines():
    w = world(prices=[{"sku": "api_calls", "model": "per_unit", "unit_amount": "0.999"}])
    tax_rule("DE", "19")
    usage(w.tenant, "api_calls", w.version, NOV_5, "7")  # 6.993 -> line 6.99
    invoice = _close(w.tenant)
    # tax = 6.993 x 19 % = 1.32867 -> 1.33; total 6.99 + 1.33
    assert (invoice.subtotal, invoice.tax_total, invoice.total) == (
        Decimal("6.99"),
        Decimal("1.33"),
        Decimal("8.32"),
    )


def test_inclusive_tax_is_carved_out_of_the_lines():
    w = world(
        prices=[{"sku": "api_calls", "model": "per_unit", "unit_amount": "0.999"}], tax_mode="inclusive"
    )
    tax_rule("DE", "19")
    usage(w.tenant, "api_calls", w.version, NOV_5, "7")  # 6.993 -> line 6.99 (tax included)
    invoice = _close(w.tenant)
    # tax = 6.993 x 19 / 119 = 1.11652... -> 1.12; total = the lines = 6.99 (net 5.87)
    assert (invoice.subtotal, invoice.tax_total, invoice.total) == (
        Decimal("6.99"),
        Decimal("1.12"),
        Decimal("6.99"),
    )
    assert account_balance(code="revenue:Compute") == {"EUR": Decimal("-5.87")}
    assert account_balance(code="tax_payable:DE") == {"EUR": Decimal("-1.12")}


def test_tax_is_computed_from_the_rounded_lines_once_per_rate_br_co_17():
    w = world(
        jurisdiction="SE",
        prices=[
            {"sku": "api_calls", "model": "per_unit", "unit_amount": "0.00667"},
            {"sku": "storage_gb", "model": "per_unit", "unit_amount": "0.00667"},
        ],
    )
    tax_rule("SE", "25")
    usage(w.tenant, "api_calls", w.version, NOV_5, "1500")  # 10.005 -> 10.01
    usage(w.tenant, "storage_gb", w.version, NOV_5, "1500")  # 10.005 -> 10.01
    invoice = _close(w.tenant)
    # BR-CO-17: the printed lines 10.01 + 10.01 = 20.02, x 25 % = 5.005 -> 5.01 (the unrounded 20.01
    # would give 5.0025 -> 5.00, which no one can re-derive from the printed invoice)
    assert (invoice.subtotal, invoice.tax_total, invoice.total) == (
        Decimal("20.02"),
        Decimal("5.01"),
        Decimal("25.03"),
    )


def test_jpy_rounds_to_whole_yen_and_converts_with_the_signed_rate():
    w = world(
        slug="nippon",
        currency="JPY",
        jurisdiction="JP",
        prices=[{"sku": "api_calls", "model": "per_unit", "unit_amount": "0.5"}],
    )
    tax_rule("JP", "10")
    fx_rate(date(2026, 11, 30), "EUR", "JPY", "160")
    usage(w.tenant, "api_calls", w.version, NOV_5, "1001")  # 500.5 -> 501 (half up)
    invoice = _close(w.tenant)
    # tax 10 % of 500.5 = 50.05 -> 50; total 551 JPY; 1 JPY = 1/160 = 0.00625 EUR -> 3.44375 -> 3.44 EUR
    assert (invoice.subtotal, invoice.tax_total, invoice.total) == (
        Decimal("501"),
        Decimal("50"),
        Decimal("551"),
    )
    assert (invoice.fx_rate, invoice.fx_rate_date, invoice.base_total) == (
        Decimal("0.00625"),
        date(2026, 11, 30),
        Decimal("3.44"),
    )
    assert account_balance(code="receivable:nippon") == {"EUR": Decimal("3.44")}


def test_kwd_rounds_to_three_decimals_and_converts_with_a_rate_quoted_the_other_way():
    w = world(
        slug="kuwait",
        currency="KWD",
        jurisdiction="KW",
        prices=[{"sku": "api_calls", "model": "per_unit", "unit_amount": "0.0125"}],
    )
    tax_rule("KW", "0")
    fx_rate(date(2026, 11, 27), "KWD", "EUR", "2.98")  # a Friday: the 3 days after have no fixing
    usage(w.tenant, "api_calls", w.version, NOV_5, "333")  # 4.1625 -> 4.163 KWD
    invoice = _close(w.tenant)
    # 0 % tax; 4.163 x 2.98 = 12.40574 -> 12.41 EUR
    assert (invoice.subtotal, invoice.tax_total, invoice.total) == (
        Decimal("4.163"),
        Decimal("0.000"),
        Decimal("4.163"),
    )
    assert (invoice.fx_rate, invoice.base_total) == (Decimal("2.98"), Decimal("12.41"))


def test_eur_invoice_needs_no_exchange_rate():
    w = world()
    tax_rule("DE", "19")
    usage(w.tenant, "api_calls", w.version, NOV_5, "3")  # 0.30
    invoice = _close(w.tenant)
    assert (invoice.total, invoice.fx_rate_id, invoice.base_total) == (Decimal("0.36"), None, Decimal("0.36"))


def test_a_late_event_becomes_a_correction_on_the_next_invoice():
    w = world()
    tax_rule("DE", "19")
    usage(w.tenant, "api_calls", w.version, datetime(2026, 10, 5, tzinfo=UTC), "1000")  # October: 100.00
    october = _close(w.tenant, "2026-10")
    # a late October event (rating flags it late: October is closed), then November usage
    usage(w.tenant, "api_calls", w.version, datetime(2026, 10, 30, tzinfo=UTC), "200", late=True)
    usage(w.tenant, "api_calls", w.version, NOV_5, "500")  # 50.00
    november = _close(w.tenant, "2026-11")
    # November: 50.00 + correction 20.00 (repriced Oct 120.00 - invoiced 100.00) = 70.00; tax 13.30
    assert _amounts(november) == [("usage", Decimal("50.00")), ("correction", Decimal("20.00"))]
    correction = november.lines.get(kind=InvoiceLine.Kind.CORRECTION)
    assert (correction.corrects_invoice_id, correction.corrects_period) == (october.pk, "2026-10")
    assert (november.tax_total, november.total) == (Decimal("13.30"), Decimal("83.30"))
    october.refresh_from_db()
    assert october.total == Decimal("119.00")
    assert CorrectionMarker.objects.filter(original=october, correcting=november).count() == 1


def test_a_corrected_period_is_never_corrected_twice():
    w = world()
    tax_rule("DE", "19")
    usage(w.tenant, "api_calls", w.version, datetime(2026, 10, 5, tzinfo=UTC), "1000")
    _close(w.tenant, "2026-10")
    usage(w.tenant, "api_calls", w.version, datetime(2026, 10, 30, tzinfo=UTC), "200", late=True)
    usage(w.tenant, "api_calls", w.version, NOV_5, "500")
    _close(w.tenant, "2026-11")
    usage(w.tenant, "api_calls", w.version, datetime(2026, 12, 5, tzinfo=UTC), "10")  # 1.00
    december = _close(w.tenant, "2026-12")
    assert _amounts(december) == [("usage", Decimal("1.00"))]


def test_missing_tax_rule_blocks_the_invoice_with_a_reason_and_an_alert():
    w = world(jurisdiction="FR")
    usage(w.tenant, "api_calls", w.version, NOV_5, "10")
    result = close_period(tenant=w.tenant, period_key="2026-11", now=after_grace())
    invoice = invoice_of(result)
    assert result.status == "blocked"
    assert invoice.status == Invoice.Status.BLOCKED
    assert invoice.number is None
    assert "no tax rule in force for jurisdiction 'FR' on 2026-11-30" in invoice.blocked_reason
    assert invoice.alerts.get(resolved_at__isnull=True).message == invoice.blocked_reason
    assert invoice.ledger_transaction_id is None


def test_missing_fx_rate_blocks_the_invoice():
    w = world(slug="nippon", currency="JPY", jurisdiction="JP")
    tax_rule("JP", "10")
    fx_rate(date(2026, 11, 23), "EUR", "JPY", "160")  # 7 days before the period's last day: too old
    usage(w.tenant, "api_calls", w.version, NOV_5, "10")
    result = close_period(tenant=w.tenant, period_key="2026-11", now=after_grace())
    assert result.status == "blocked"
    assert "no exchange rate JPY/EUR dated 2026-11-30" in result.message


def test_an_unsigned_fx_rate_blocks_the_invoice():
    from billing.close.models import ExchangeRate

    w = world(slug="nippon", currency="JPY", jurisdiction="JP")
    tax_rule("JP", "10")
    ExchangeRate.objects.create(
        date=date(2026, 11, 30), base="EUR", quote="JPY", rate=Decimal(160), source="manual"
    )
    usage(w.tenant, "api_calls", w.version, NOV_5, "10")
    result = close_period(tenant=w.tenant, period_key="2026-11", now=after_grace())
    assert result.status == "blocked"
    assert "of 2026-11-30 is unsigned" in result.message


def test_a_tampered_fx_rate_blocks_the_invoice():
    from billing.close.models import ExchangeRate

    w = world(slug="nippon", currency="JPY", jurisdiction="JP")
    tax_rule("JP", "10")
    row = fx_rate(date(2026, 11, 30), "EUR", "JPY", "160")
    ExchangeRate.objects.filter(pk=row.pk).update(rate=Decimal("150"))
    usage(w.tenant, "api_calls", w.version, NOV_5, "10")
    result = close_period(tenant=w.tenant, period_key="2026-11", now=after_grace())
    assert result.status == "blocked"
    assert "signature does not verify" in result.message


def test_a_blocked_invoice_finalizes_once_the_cause_is_fixed_and_its_alert_is_resolved():
    w = world(jurisdiction="FR")
    usage(w.tenant, "api_calls", w.version, NOV_5, "10")
    blocked = close_period(tenant=w.tenant, period_key="2026-11", now=after_grace())
    tax_rule("FR", "20")
    done = close_period(tenant=w.tenant, period_key="2026-11", now=after_grace())
    invoice = invoice_of(done)
    assert (done.status, done.invoice_id) == ("finalized", blocked.invoice_id)
    assert invoice.total == Decimal("1.20")
    assert not invoice.alerts.filter(resolved_at__isnull=True).exists()


def test_a_dst_tenant_period_follows_local_midnight():
    w = world(
        slug="berlin",
        tz="Europe/Berlin",
        prices=[{"sku": "api_calls", "model": "per_unit", "unit_amount": "1"}],
    )
    tax_rule("DE", "19")
    # October 2026 in Berlin: 2026-09-30T22:00Z .. 2026-10-31T23:00Z (DST ends on 25 October inside it)
    usage(
        w.tenant, "api_calls", w.version, datetime(2026, 9, 30, 22, 30, tzinfo=UTC), "1"
    )  # 1 Oct 00:30 local
    usage(
        w.tenant, "api_calls", w.version, datetime(2026, 10, 31, 22, 30, tzinfo=UTC), "10"
    )  # 31 Oct 23:30 local
    usage(
        w.tenant, "api_calls", w.version, datetime(2026, 10, 31, 23, 30, tzinfo=UTC), "100"
    )  # 1 Nov 00:30 local
    usage(
        w.tenant, "api_calls", w.version, datetime(2026, 9, 30, 21, 30, tzinfo=UTC), "1000"
    )  # 30 Sep 23:30 local
    result = close_period(tenant=w.tenant, period_key="2026-10", now=datetime(2026, 11, 4, tzinfo=UTC))
    invoice = invoice_of(result)
    assert result.status == "finalized"
    assert (invoice.period_start, invoice.period_end) == (
        datetime(2026, 9, 30, 22, tzinfo=UTC),
        datetime(2026, 10, 31, 23, tzinfo=UTC),
    )
    assert invoice.period_end - invoice.period_start == timedelta(hours=745)
    assert invoice.subtotal == Decimal("11.00")


def test_the_grace_window_of_a_dst_tenant_counts_from_local_midnight():
    w = world(slug="berlin", tz="Europe/Berlin")
    tax_rule("DE", "19")
    usage(w.tenant, "api_calls", w.version, datetime(2026, 10, 10, tzinfo=UTC), "1")
    # period end 2026-10-31T23:00Z + 72 h = 2026-11-03T23:00Z
    early = close_period(tenant=w.tenant, period_key="2026-10", now=datetime(2026, 11, 3, 22, 59, tzinfo=UTC))
    late = close_period(tenant=w.tenant, period_key="2026-10", now=datetime(2026, 11, 3, 23, 0, tzinfo=UTC))
    assert (early.status, late.status) == ("draft", "finalized")


def test_the_last_instant_of_a_month_belongs_to_it():
    w = world(prices=[{"sku": "api_calls", "model": "per_unit", "unit_amount": "1"}])
    tax_rule("DE", "19")
    usage(w.tenant, "api_calls", w.version, datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC), "7")
    usage(w.tenant, "api_calls", w.version, datetime(2026, 12, 1, 0, 0, tzinfo=UTC), "100")
    assert _close(w.tenant).subtotal == Decimal("7.00")


def test_flat_fees_are_prorated_by_the_days_each_version_was_in_force():
    prices = [
        {"sku": "api_calls", "model": "per_unit", "unit_amount": "0.10"},
        {"sku": "platform_fee", "model": "flat", "amount": "99.00"},
    ]
    w = world(prices=prices)
    approved_version(
        w.profile, document(w.profile.code, prices=prices), datetime(2026, 11, 16, tzinfo=UTC), 2
    )
    tax_rule("DE", "19")
    usage(w.tenant, "api_calls", w.version, NOV_5, "10")
    invoice = _close(w.tenant)
    # v1 owns 1-15 November, v2 16-30 November: 99.00 x 15 / 30 = 49.50 each
    assert _amounts(invoice) == [
        ("usage", Decimal("1.00")),
        ("flat", Decimal("49.50")),
        ("flat", Decimal("49.50")),
    ]
