"""The pure comparison of the reconciliation and the provider file reader (no database)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ledger.reconciliation.compare import Figure, Threshold, compare, delta_pct
from ledger.reconciliation.focus_read import InvalidFocusFile, focus_rows

LIMIT = Threshold(amount=Decimal("1.00"), pct=Decimal("0.5"))


def fig(amount: str, currency: str = "EUR", **sources: list[int]) -> Figure:
    return Figure(amount=Decimal(amount), currency=currency, sources=dict(sources))


def test_it_reports_nothing_when_the_rounded_figures_agree() -> None:
    compared, findings = compare(expected={"a": fig("10.004")}, actual={"a": fig("10.00")}, threshold=LIMIT)
    assert (compared, findings) == (1, [])


def test_it_reports_actual_minus_expected_with_both_sides_rows() -> None:
    _, (finding,) = compare(
        expected={"a": fig("100.00", estimates=[7])},
        actual={"a": fig("98.00", invoice_lines=[3, 4])},
        threshold=LIMIT,
    )
    assert (finding.delta, finding.pct, finding.breached) == (Decimal("-2.00"), Decimal("-2.0000"), True)
    assert finding.sources == {"estimates": [7], "invoice_lines": [3, 4]}


def test_a_small_delta_stays_under_the_threshold() -> None:
    _, (finding,) = compare(expected={"a": fig("1000.00")}, actual={"a": fig("1000.90")}, threshold=LIMIT)
    assert (finding.delta, finding.breached) == (Decimal("0.90"), False)


def test_a_key_on_one_side_only_compares_against_zero() -> None:
    _, (finding,) = compare(expected={}, actual={"b": fig("5.00")}, threshold=LIMIT)
    assert (finding.expected, finding.delta, finding.pct, finding.note) == (
        Decimal(0),
        Decimal("5.00"),
        None,
        "found only",
    )
    assert finding.breached is True


def test_different_currencies_are_a_finding_not_a_subtraction() -> None:
    _, (finding,) = compare(expected={"a": fig("5.00")}, actual={"a": fig("5.00", "USD")}, threshold=LIMIT)
    assert (finding.breached, finding.note) == (True, "currencies differ: EUR expected, USD found")


def test_delta_pct_of_nothing_expected_is_none() -> None:
    assert delta_pct(Decimal("1"), Decimal(0)) is None
    assert delta_pct(Decimal("-1"), Decimal("3")) == Decimal("-33.3333")


CSV = (
    "BillingAccountId,SkuId,ChargeCategory,BilledCost,EffectiveCost,BillingCurrency,ChargePeriodStart\n"
    "acme,api_calls,Usage,10.50,10.00,EUR,2026-11-01T00:00:00Z\n"
    "acme,,Tax,1.99,1.99,EUR,2026-11-01T00:00:00Z\n"
)


def test_it_reads_every_row_with_the_cost_column_asked_for() -> None:
    rows = focus_rows(content=CSV.encode(), file_name="p.csv", cost_column="EffectiveCost")
    assert [(r.row_number, r.tenant_ref, r.sku_code, r.charge_category, r.cost) for r in rows] == [
        (1, "acme", "api_calls", "Usage", Decimal("10.00")),
        (2, "acme", "", "Tax", Decimal("1.99")),
    ]


def test_the_x_columns_win_over_the_focus_ones() -> None:
    content = "x_TenantSlug,SubAccountId,x_SkuCode,SkuId,ChargeCategory,BilledCost,BillingCurrency\nbeta,acct-9,gpu,g1,Usage,1,EUR\n"
    (row,) = focus_rows(content=content.encode(), file_name="p.csv")
    assert (row.tenant_ref, row.sku_code) == ("beta", "gpu")


def test_a_bad_decimal_names_its_row_and_column() -> None:
    content = CSV.replace("10.50", "ten")
    with pytest.raises(InvalidFocusFile, match=r"row 1, BilledCost: 'ten' is not a decimal"):
        focus_rows(content=content.encode(), file_name="p.csv")


def test_a_file_without_a_tenant_column_is_refused() -> None:
    with pytest.raises(InvalidFocusFile, match="no tenant column"):
        focus_rows(
            content=b"SkuId,ChargeCategory,BilledCost,BillingCurrency\nx,Usage,1,EUR\n", file_name="p.csv"
        )
