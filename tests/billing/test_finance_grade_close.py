"""Finance-grade close rules, each with figures computed by hand in the test (never by the engine):
corrections re-price the whole period per component, a decrease the invoice cannot absorb is a credit
note, discounts follow event time, tax per rate on the printed lines (EN 16931 BR-CO-17), reverse
charge, proration of flat fees. `ledger_verify` passes after each."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command

from billing.close.services import close_period
from ledger.models import CorrectionMarker, CreditNote, Invoice, InvoiceLine, TaxBreakdown
from ledger.vat import REVERSE_CHARGE_NOTE
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
D = Decimal


both_close_paths = both_close_paths_fixture(__name__)


@pytest.fixture(autouse=True)
def ledger_verifies_after_each_test():
    yield
    call_command("ledger_verify")


OCT_5 = datetime(2026, 10, 5, 10, tzinfo=UTC)
OCT_30 = datetime(2026, 10, 30, 10, tzinfo=UTC)
NOV_5 = datetime(2026, 11, 5, 10, tzinfo=UTC)
PER_UNIT = [{"sku": "api_calls", "model": "per_unit", "unit_amount": "1.00"}]


def _close(tenant, key: str) -> Invoice:
    result = close_period(tenant=tenant, period_key=key, now=after_grace(key))
    assert result.status == "finalized", result.message
    return invoice_of(result)


def _corrections(
    invoice: Invoice,
) -> list[tuple[str, Decimal | None, Decimal | None, Decimal | None, Decimal]]:
    """(component kind, quantity change, billed before, re-priced, amount) of each correction line."""
    return [
        (line.component.split(":")[0], line.quantity, line.billed_before, line.repriced, line.amount)
        for line in invoice.lines.filter(kind=InvoiceLine.Kind.CORRECTION).order_by("position")
    ]


def _minimum_world():
    w = world(prices=PER_UNIT, commitments={"minimum_spend": "100"})
    tax_rule("DE", "19")
    usage(w.tenant, "api_calls", w.version, OCT_5, "40")  # 40.00 + true-up 60.00
    october = _close(w.tenant, "2026-10")
    assert (october.subtotal, october.total) == (D("100.00"), D("119.00"))
    return w, october


def test_late_usage_under_the_minimum_corrects_to_zero():
    w, october = _minimum_world()
    usage(w.tenant, "api_calls", w.version, OCT_30, "30", late=True)
    usage(w.tenant, "api_calls", w.version, NOV_5, "10")  # November: 10.00 + true-up 90.00
    november = _close(w.tenant, "2026-11")
    # October re-priced: usage 70.00, true-up 30.00: +30.00 usage, -30.00 true-up, net 0
    assert _corrections(november) == [
        ("minimum", None, D("60.00"), D("30.00"), D("-30.00")),
        ("usage", D("30"), D("40.00"), D("70.00"), D("30.00")),
    ]
    assert (november.subtotal, november.tax_total, november.total) == (D("100.00"), D("19.00"), D("119.00"))
    assert november.lines.get(kind="correction", component__startswith="usage").description.startswith(
        f"Corrections to {october.number} (2026-10): "
    )


def test_late_usage_over_the_minimum_bills_only_what_passes_it():
    w, _october = _minimum_world()
    usage(w.tenant, "api_calls", w.version, OCT_30, "80", late=True)
    usage(w.tenant, "api_calls", w.version, NOV_5, "10")
    november = _close(w.tenant, "2026-11")
    # October re-priced: usage 120.00, no true-up: +80.00 usage, -60.00 true-up = +20.00 over the minimum
    assert _corrections(november) == [
        ("minimum", None, D("60.00"), D("0.00"), D("-60.00")),
        ("usage", D("80"), D("40.00"), D("120.00"), D("80.00")),
    ]
    # 10.00 + 90.00 + 20.00 = 120.00; tax 22.80
    assert (november.subtotal, november.tax_total, november.total) == (D("120.00"), D("22.80"), D("142.80"))


def test_late_usage_gets_the_periods_discount():
    w = world(
        prices=[{"sku": "api_calls", "model": "per_unit", "unit_amount": "0.10"}],
        discounts=[{"code": "launch20", "name": "Launch offer", "percent": "20", "skus": ["api_calls"]}],
    )
    tax_rule("DE", "19")
    usage(w.tenant, "api_calls", w.version, OCT_5, "1000")  # 100.00 - 20.00
    _close(w.tenant, "2026-10")
    usage(w.tenant, "api_calls", w.version, OCT_30, "200", late=True)
    november = _close(w.tenant, "2026-11")
    # re-priced: 120.00 - 24.00: +20.00 usage and -4.00 discount, net +16.00 (not the full price 20.00)
    assert _corrections(november) == [
        ("discount", None, D("-20.00"), D("-24.00"), D("-4.00")),
        ("usage", D("200"), D("100.00"), D("120.00"), D("20.00")),
    ]
    assert (november.subtotal, november.tax_total, november.total) == (D("16.00"), D("3.04"), D("19.04"))


def test_a_volume_tier_drop_is_credited_against_the_original_invoice():
    tiers = [{"up_to": "1000", "unit_amount": "0.10"}, {"up_to": None, "unit_amount": "0.05"}]
    w = world(prices=[{"sku": "api_calls", "model": "volume", "tiers": tiers}])
    tax_rule("DE", "19")
    usage(w.tenant, "api_calls", w.version, OCT_5, "1000")  # 1000 x 0.10 = 100.00, total 119.00
    october = _close(w.tenant, "2026-10")
    usage(w.tenant, "api_calls", w.version, OCT_30, "100", late=True)  # 1100 x 0.05 = 55.00: -45.00
    usage(w.tenant, "api_calls", w.version, NOV_5, "10")  # 1.00
    november = _close(w.tenant, "2026-11")
    # 1.00 - 45.00 would be negative: November bills 1.00 + 0.19, the decrease is a credit note
    assert (november.subtotal, november.total) == (D("1.00"), D("1.19"))
    assert _corrections(november) == []
    note = CreditNote.objects.get(invoice=october)
    assert (note.kind, note.subtotal, note.tax_total, note.total) == (
        "correction",
        D("45.00"),
        D("8.55"),
        D("53.55"),
    )
    line = note.lines.get()
    assert (line.amount, line.billed_before, line.repriced, line.quantity) == (
        D("45.00"),
        D("100.00"),
        D("55.00"),
        D("-100"),
    )
    assert CorrectionMarker.objects.filter(original=october, correcting=november).count() == 1
    # the credit is in the baseline: December corrects nothing more
    usage(w.tenant, "api_calls", w.version, datetime(2026, 12, 5, tzinfo=UTC), "10")
    december = _close(w.tenant, "2026-12")
    assert _corrections(december) == []
    assert CreditNote.objects.filter(invoice=october).count() == 1


def test_corrections_of_a_corrected_period_start_from_the_period_as_last_corrected():
    w = world(prices=[{"sku": "api_calls", "model": "per_unit", "unit_amount": "0.10"}])
    tax_rule("DE", "19")
    usage(w.tenant, "api_calls", w.version, OCT_5, "1000")  # 100.00
    _close(w.tenant, "2026-10")
    usage(w.tenant, "api_calls", w.version, OCT_30, "200", late=True)
    november = _close(w.tenant, "2026-11")
    assert _corrections(november) == [("usage", D("200"), D("100.00"), D("120.00"), D("20.00"))]
    usage(w.tenant, "api_calls", w.version, OCT_30 + timedelta(hours=1), "300", late=True)
    december = _close(w.tenant, "2026-12")
    # baseline 120.00 (as corrected in November), re-priced 150.00: +30.00, not +50.00
    assert _corrections(december) == [("usage", D("300"), D("120.00"), D("150.00"), D("30.00"))]


def test_a_discount_applies_only_to_usage_inside_its_window_with_the_tier_position_carried():
    tiers = [{"up_to": "150", "unit_amount": "0.10"}, {"up_to": None, "unit_amount": "0.20"}]
    w = world(
        prices=[{"sku": "api_calls", "model": "graduated", "tiers": tiers}],
        discounts=[{"code": "early", "percent": "50", "skus": ["api_calls"], "valid_to": "2026-11-05"}],
    )
    tax_rule("DE", "19")
    usage(w.tenant, "api_calls", w.version, datetime(2026, 11, 3, tzinfo=UTC), "100")  # 100 x 0.10 = 10.00
    usage(
        w.tenant, "api_calls", w.version, datetime(2026, 11, 11, tzinfo=UTC), "100"
    )  # 50 x 0.10 + 50 x 0.20
    invoice = _close(w.tenant, "2026-11")
    lines = [(line.kind, line.quantity, line.amount) for line in invoice.lines.order_by("position")]
    # 1-5 Nov: 10.00, half off: -5.00; 6-30 Nov: units 101..200 = 5.00 + 10.00 = 15.00, no discount
    assert lines == [
        ("usage", D("100"), D("10.00")),
        ("usage", D("100"), D("15.00")),
        ("discount", None, D("-5.00")),
    ]
    descriptions = [line.description for line in invoice.lines.order_by("position")]
    assert descriptions[0].endswith("(2026-11-01 to 2026-11-05)")
    assert descriptions[1].endswith("(2026-11-06 to 2026-11-30)")
    assert (invoice.subtotal, invoice.tax_total) == (D("20.00"), D("3.80"))


def test_a_discount_that_ended_before_the_usage_gives_nothing():
    w = world(
        prices=[{"sku": "api_calls", "model": "per_unit", "unit_amount": "0.10"}],
        discounts=[{"code": "early", "percent": "50", "valid_to": "2026-11-05"}],
    )
    tax_rule("DE", "19")
    usage(w.tenant, "api_calls", w.version, datetime(2026, 11, 11, tzinfo=UTC), "100")
    invoice = _close(w.tenant, "2026-11")
    assert [(line.kind, line.amount) for line in invoice.lines.order_by("position")] == [
        ("usage", D("10.00"))
    ]


def test_tax_is_per_rate_on_the_printed_lines_of_a_three_line_invoice_br_co_17():
    w = world(
        prices=[
            {"sku": "api_calls", "model": "per_unit", "unit_amount": "0.00667"},
            {"sku": "storage_gb", "model": "per_unit", "unit_amount": "0.00667"},
            {"sku": "egress_gb", "model": "per_unit", "unit_amount": "0.00667"},
        ]
    )
    tax_rule("DE", "19")
    for sku in ("api_calls", "storage_gb", "egress_gb"):
        usage(w.tenant, sku, w.version, NOV_5, "1500")  # 10.005 -> 10.01 each
    invoice = _close(w.tenant, "2026-11")
    # 3 x 10.01 = 30.03 x 19 % = 5.7057 -> 5.71 (the unrounded 30.015 would give 5.70285 -> 5.70)
    row = TaxBreakdown.objects.get(invoice=invoice)
    assert (row.category, row.rate, row.taxable_amount, row.tax_amount) == (
        "S",
        D("19"),
        D("30.03"),
        D("5.71"),
    )
    assert (invoice.subtotal, invoice.tax_total, invoice.total) == (D("30.03"), D("5.71"), D("35.74"))


def test_a_reverse_charge_customer_pays_no_vat_and_the_invoice_says_why():
    w = world(jurisdiction="FR")  # no FR rule: reverse charge needs none
    w.tenant.vat_id = "FR40303265045"
    w.tenant.save()
    usage(w.tenant, "api_calls", w.version, NOV_5, "1000")  # 100.00
    invoice = _close(w.tenant, "2026-11")
    assert (invoice.subtotal, invoice.tax_total, invoice.total) == (D("100.00"), D("0.00"), D("100.00"))
    assert (invoice.reverse_charge, invoice.tax_note) == (True, REVERSE_CHARGE_NOTE)
    assert (invoice.buyer_vat_id, invoice.seller_vat_id) == ("FR40303265045", "DE000000000")
    row = TaxBreakdown.objects.get(invoice=invoice)
    assert (row.category, row.tax_amount, row.exemption_code) == ("AE", D("0.00"), "VATEX-EU-AE")


def test_a_domestic_business_customer_pays_vat():
    w = world()
    w.tenant.vat_id = "DE811907980"
    w.tenant.save()
    tax_rule("DE", "19")
    usage(w.tenant, "api_calls", w.version, NOV_5, "1000")
    invoice = _close(w.tenant, "2026-11")
    assert (invoice.reverse_charge, invoice.tax_total) == (False, D("19.00"))  # 100.00 x 19 %


def test_a_jpy_invoice_rounds_lines_and_tax_to_whole_yen():
    w = world(
        slug="nippon",
        currency="JPY",
        jurisdiction="JP",
        tz="Asia/Tokyo",
        prices=[
            {"sku": "api_calls", "model": "per_unit", "unit_amount": "0.5"},
            {"sku": "storage_gb", "model": "per_unit", "unit_amount": "0.5"},
            {"sku": "egress_gb", "model": "per_unit", "unit_amount": "0.5"},
        ],
    )
    tax_rule("JP", "10")
    fx_rate(date(2026, 11, 30), "EUR", "JPY", "160")
    for sku in ("api_calls", "storage_gb", "egress_gb"):
        usage(w.tenant, sku, w.version, NOV_5, "3")  # 1.5 -> 2 JPY each
    invoice = _close(w.tenant, "2026-11")
    # 3 x 2 = 6 JPY x 10 % = 0.6 -> 1 JPY (the unrounded 4.5 would give 0.45 -> 0)
    assert (invoice.subtotal, invoice.tax_total, invoice.total) == (D("6"), D("1"), D("7"))
    # the period and issue date in the customer's local calendar
    assert (invoice.period_first_day, invoice.period_last_day) == (date(2026, 11, 1), date(2026, 11, 30))


def test_the_invoice_carries_issue_and_due_dates_from_the_tenants_terms():
    w = world()
    w.tenant.payment_terms_days = 14
    w.tenant.save()
    tax_rule("DE", "19")
    usage(w.tenant, "api_calls", w.version, NOV_5, "10")
    invoice = _close(w.tenant, "2026-11")
    issued = after_grace("2026-11").date()
    assert (invoice.issue_date, invoice.due_date, invoice.payment_terms_days) == (
        issued,
        issued + timedelta(days=14),
        14,
    )


def test_a_flat_fee_without_proration_is_charged_whole_by_the_version_in_force_at_the_end():
    prices = [{"sku": "platform_fee", "model": "flat", "amount": "99.00", "proration": "none"}]
    w = world(prices=prices)
    v2 = approved_version(
        w.profile,
        document(w.profile.code, prices=[{**prices[0], "amount": "120.00"}]),
        datetime(2026, 11, 16, tzinfo=UTC),
        2,
    )
    tax_rule("DE", "19")
    invoice = _close(w.tenant, "2026-11")
    assert [(line.kind, line.amount, line.profile_version_id) for line in invoice.lines.all()] == [
        ("flat", D("120.00"), v2.pk)
    ]


def test_a_flat_fee_change_mid_period_prorates_each_fee_by_its_days():
    prices = [{"sku": "platform_fee", "model": "flat", "amount": "90.00"}]
    w = world(prices=prices)
    approved_version(
        w.profile,
        document(w.profile.code, prices=[{**prices[0], "amount": "120.00"}]),
        datetime(2026, 11, 21, tzinfo=UTC),
        2,
    )
    tax_rule("DE", "19")
    invoice = _close(w.tenant, "2026-11")
    # 1-20 Nov: 90.00 x 20 / 30 = 60.00; 21-30 Nov: 120.00 x 10 / 30 = 40.00
    assert [(line.quantity, line.amount) for line in invoice.lines.order_by("position")] == [
        (D("20"), D("60.00")),
        (D("10"), D("40.00")),
    ]


def test_a_price_list_naming_another_jurisdiction_than_the_customers_blocks_the_invoice():
    w = world()  # tenant DE
    v2 = approved_version(
        w.profile,
        document(
            w.profile.code,
            prices=[{"sku": "api_calls", "model": "per_unit", "unit_amount": "0.10"}],
            jurisdiction="FR",
        ),
        datetime(2026, 11, 1, tzinfo=UTC),
        2,
    )
    tax_rule("DE", "19")
    usage(w.tenant, "api_calls", v2, NOV_5, "10")
    result = close_period(tenant=w.tenant, period_key="2026-11", now=after_grace("2026-11"))
    assert result.status == "blocked"
    assert (
        "names tax jurisdiction FR, the customer's place of supply is DE" in invoice_of(result).blocked_reason
    )


def test_a_level_meter_is_never_cut_so_a_partial_discount_window_leaves_it_whole():
    from billing.catalog.models import Meter

    w = world(
        prices=[{"sku": "seats", "model": "per_unit", "unit_amount": "10.00"}],
        discounts=[{"code": "early", "percent": "10", "valid_to": "2026-11-15"}],
    )
    Meter.objects.filter(code="m-seats").update(aggregation=Meter.Aggregation.MAX)
    tax_rule("DE", "19")
    usage(w.tenant, "seats", w.version, datetime(2026, 11, 3, tzinfo=UTC), "10")
    usage(w.tenant, "seats", w.version, datetime(2026, 11, 20, tzinfo=UTC), "10")
    invoice = _close(w.tenant, "2026-11")
    # the peak is 10 seats for the month: 100.00, not 10 + 10 seats; the window covers half: no discount
    assert [(line.kind, line.quantity, line.amount) for line in invoice.lines.order_by("position")] == [
        ("usage", D("10"), D("100.00"))
    ]


def test_the_governing_versions_proration_decides_for_every_version():
    prices = [{"sku": "platform_fee", "model": "flat", "amount": "100.00", "proration": "none"}]
    w = world(prices=prices)
    approved_version(
        w.profile,
        document(w.profile.code, prices=[{"sku": "platform_fee", "model": "flat", "amount": "100.00"}]),
        datetime(2026, 11, 16, tzinfo=UTC),
        2,
    )
    tax_rule("DE", "19")
    invoice = _close(w.tenant, "2026-11")
    # v2 (in force at the end) prorates: v1 100.00 x 15 / 30 = 50.00, v2 the same; nothing is dropped
    assert [line.amount for line in invoice.lines.order_by("position")] == [D("50.00"), D("50.00")]


def test_late_usage_for_a_period_with_other_tax_mode_blocks_for_a_manual_decision():
    w = world()
    tax_rule("DE", "19")
    usage(w.tenant, "api_calls", w.version, OCT_5, "1000")
    _close(w.tenant, "2026-10")
    v2 = approved_version(
        w.profile,
        document(
            w.profile.code,
            prices=[{"sku": "api_calls", "model": "per_unit", "unit_amount": "0.10"}],
            tax_mode="inclusive",
        ),
        datetime(2026, 11, 1, tzinfo=UTC),
        2,
    )
    usage(w.tenant, "api_calls", w.version, OCT_30, "200", late=True)
    usage(w.tenant, "api_calls", v2, NOV_5, "10")
    result = close_period(tenant=w.tenant, period_key="2026-11", now=after_grace("2026-11"))
    assert result.status == "blocked"
    assert (
        "invoiced with exclusive prices, this invoice has inclusive prices"
        in invoice_of(result).blocked_reason
    )


def test_reverse_charge_follows_the_place_of_supply_not_the_postal_country():
    w = world(jurisdiction="DE")  # supplied in DE, the issuer's country
    w.tenant.country = "FR"  # a French postal address
    w.tenant.vat_id = "DE811907980"
    w.tenant.save()
    tax_rule("DE", "19")
    usage(w.tenant, "api_calls", w.version, NOV_5, "1000")
    invoice = _close(w.tenant, "2026-11")
    assert (invoice.reverse_charge, invoice.tax_total) == (False, D("19.00"))


def test_a_correction_of_a_voided_and_reclosed_period_counts_what_was_corrected_before():
    from ledger.services.invoicing import invoice_void

    w = world()
    tax_rule("DE", "19")
    usage(w.tenant, "api_calls", w.version, OCT_5, "1000")  # 100.00
    october = _close(w.tenant, "2026-10")
    usage(w.tenant, "api_calls", w.version, OCT_30, "200", late=True)
    november = _close(w.tenant, "2026-11")
    assert _corrections(november) == [("usage", D("200"), D("100.00"), D("120.00"), D("20.00"))]
    invoice_void(invoice=october, reason="wrong address")
    again = _close(w.tenant, "2026-10")  # re-issued with all usage: 120.00
    assert again.subtotal == D("120.00")
    usage(w.tenant, "api_calls", w.version, OCT_30 + timedelta(hours=2), "100", late=True)
    december = _close(w.tenant, "2026-12")
    # billed for October: 120.00 (re-issued) + 20.00 (November's correction of the voided invoice) = 140.00;
    # re-priced 130.00: -10.00, not +10.00; December has nothing else, so it is a credit note
    assert december.total == D("0.00")
    note = CreditNote.objects.get(invoice=again, kind="correction")
    line = note.lines.get()
    assert (line.billed_before, line.repriced, line.amount, note.total) == (
        D("140.00"),
        D("130.00"),
        D("10.00"),
        D("11.90"),
    )
