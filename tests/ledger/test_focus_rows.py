"""FOCUS rows built from documents written directly (tests/factories/ledger.py): categories, classes, sums
per InvoiceId, formats, the tenant filter, bad periods, Parquet metadata and the command."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from hypothesis import given
from hypothesis import strategies as st

from common.errors import ValidationFailed
from ledger.exports.focus_columns import COLUMN_NAMES, COLUMNS
from ledger.exports.focus_format import format_decimal
from ledger.exports.focus_rows import focus_row_count, focus_rows
from ledger.exports.focus_writers import CsvLines, csv_chunks, write_csv, write_parquet
from ledger.models import Invoice
from tests.factories.ledger import document_credit_note, document_invoice
from tests.factories.tenants import TenantFactory

pytestmark = pytest.mark.django_db

S19 = {"tax_category": "S", "tax_rate": Decimal("19")}
SEPT: dict[str, Any] = {
    "period_start": datetime(2026, 9, 1, tzinfo=UTC),
    "period_end": datetime(2026, 10, 1, tzinfo=UTC),
}


def _rows(period: str = "2026-10", tenant: Any = None) -> list[dict[str, str]]:
    stream = io.StringIO()
    write_csv(focus_rows(period=period, tenant=tenant), stream)
    return list(csv.DictReader(io.StringIO(stream.getvalue())))


def _october_invoice(tenant: Any, **fields: Any) -> Invoice:
    """usage 100.00, flat 49.00, discount -10.00, minimum 11.00 -> 150.00 + VAT 28.50 = 178.50."""
    return document_invoice(
        tenant,
        lines=[
            {"kind": "usage", "amount": Decimal("100.00"), "quantity": Decimal("1000"), "unit_label": "vCPU-hour",
             "sku_code": "compute", "service_category": "Compute", "component": "usage:compute:1",
             "description": "Compute", **S19},
            {"kind": "flat", "amount": Decimal("49.00"), "quantity": Decimal("31"), "unit_label": "days",
             "sku_code": "platform_fee", "service_category": "Management and Governance",
             "component": "flat:platform_fee:1", "description": "Platform fee", **S19},
            {"kind": "discount", "amount": Decimal("-10.00"), "component": "discount:launch",
             "description": "launch: 10 %", **S19},
            {"kind": "minimum", "amount": Decimal("11.00"), "quantity": Decimal("1"), "unit_label": "period",
             "component": "minimum", "description": "Minimum spend true-up", **S19},
        ],
        breakdown=[{"category": "S", "rate": Decimal("19"), "taxable_amount": Decimal("150.00"),
                    "tax_amount": Decimal("28.50")}],
        number=fields.pop("number", "ACME-1"),
        **fields,
    )  # fmt: skip


def test_it_maps_each_line_kind_to_a_charge_category_and_the_vat_to_tax():
    tenant = TenantFactory.create(slug="acme")
    _october_invoice(tenant)

    rows = _rows()

    assert [(r["ChargeCategory"], r["ChargeFrequency"], r["BilledCost"], r["x_LineKind"]) for r in rows] == [
        ("Usage", "Usage-Based", "100.00", "usage"),
        ("Usage", "Recurring", "49.00", "flat"),
        ("Credit", "Recurring", "-10.00", "discount"),
        ("Adjustment", "Recurring", "11.00", "minimum"),
        ("Tax", "Recurring", "28.50", "tax"),
    ]


def test_billed_cost_sums_per_invoice_id_to_the_invoice_total():
    tenant = TenantFactory.create(slug="acme")
    invoice = _october_invoice(tenant)

    rows = _rows()

    assert {r["InvoiceId"] for r in rows} == {"ACME-1"}
    assert sum(Decimal(r["BilledCost"]) for r in rows) == invoice.total == Decimal("178.50")


def test_usage_rows_carry_consumed_quantity_and_focus_units_tax_rows_none():
    tenant = TenantFactory.create(slug="acme")
    _october_invoice(tenant)

    rows = _rows()

    assert [
        (r["PricingQuantity"], r["PricingUnit"], r["ConsumedQuantity"], r["ConsumedUnit"]) for r in rows
    ] == [
        ("1000.0", "vCPU-Hours", "1000.0", "vCPU-Hours"),
        ("31.0", "days", "31.0", "days"),
        ("", "", "", ""),
        ("1.0", "period", "", ""),
        ("", "", "", ""),
    ]


def test_a_correction_line_keeps_its_components_category_with_charge_class_correction():
    tenant = TenantFactory.create(slug="acme")
    september = document_invoice(tenant, lines=[{"amount": Decimal("10.00"), **S19}], number="ACME-0", **SEPT)
    document_invoice(
        tenant,
        lines=[{"kind": "correction", "amount": Decimal("4.00"), "quantity": Decimal("40"), "unit_label": "GB",
                "sku_code": "egress", "service_category": "Networking", "component": "usage:egress:1",
                "corrects_invoice": september, "corrects_period": "2026-09", "description": "Corrections", **S19}],
        number="ACME-1",
    )  # fmt: skip

    (row,) = _rows()

    assert (
        row["ChargeCategory"],
        row["ChargeClass"],
        row["x_CorrectsInvoiceId"],
        row["x_CorrectsPeriod"],
    ) == (
        "Usage",
        "Correction",
        "ACME-0",
        "2026-09",
    )
    assert (row["ChargePeriodStart"], row["ChargePeriodEnd"]) == (
        "2026-09-01T00:00:00Z",
        "2026-10-01T00:00:00Z",
    )
    assert (row["BillingPeriodStart"], row["BillingPeriodEnd"]) == (
        "2026-10-01T00:00:00Z",
        "2026-11-01T00:00:00Z",
    )


def test_a_credit_note_of_an_earlier_period_is_negative_with_charge_class_correction():
    tenant = TenantFactory.create(slug="acme")
    september = document_invoice(tenant, lines=[{"amount": Decimal("50.00"), **S19}], number="ACME-0", **SEPT)
    document_credit_note(
        september,
        kind="correction",
        number="ACME-CN-1",
        lines=[{"amount": Decimal("20.00"), "tax_amount": Decimal("3.80"), "description": "Corrections",
                "component": "usage:compute:1", "quantity": Decimal("-200"), "unit_label": "GB-month", **S19}],
        breakdown=[{"category": "S", "rate": Decimal("19"), "taxable_amount": Decimal("20.00"),
                    "tax_amount": Decimal("3.80")}],
        created_at=datetime(2026, 10, 20, tzinfo=UTC),
    )  # fmt: skip

    rows = _rows()

    assert [
        (r["InvoiceId"], r["ChargeCategory"], r["ChargeClass"], r["BilledCost"], r["PricingUnit"])
        for r in rows
    ] == [
        ("ACME-CN-1", "Usage", "Correction", "-20.00", "GB-Months"),
        ("ACME-CN-1", "Tax", "Correction", "-3.80", ""),
    ]


def test_a_credit_note_finance_issues_by_hand_is_a_credit():
    tenant = TenantFactory.create(slug="acme")
    invoice = _october_invoice(tenant)
    line = invoice.lines.get(position=1)
    document_credit_note(
        invoice,
        number="ACME-CN-2",
        lines=[{"invoice_line": line, "amount": Decimal("5.00"), "tax_amount": Decimal("0.95"),
                "description": "goodwill", **S19}],
        breakdown=[{"category": "S", "rate": Decimal("19"), "taxable_amount": Decimal("5.00"),
                    "tax_amount": Decimal("0.95")}],
        created_at=datetime(2026, 10, 25, tzinfo=UTC),
    )  # fmt: skip

    notes = [r for r in _rows() if r["InvoiceId"] == "ACME-CN-2"]

    assert [
        (r["ChargeCategory"], r["ChargeClass"], r["BilledCost"], r["ConsumedQuantity"]) for r in notes
    ] == [
        ("Credit", "", "-5.00", ""),
        ("Tax", "", "-0.95", ""),
    ]


def test_inclusive_prices_have_their_vat_carved_out_so_rows_still_sum_to_the_total():
    tenant = TenantFactory.create(slug="kaiju", currency="JPY")
    document_invoice(
        tenant,
        tax_mode=Invoice.TaxMode.INCLUSIVE,
        lines=[
            {"amount": Decimal("1100"), "tax_category": "S", "tax_rate": Decimal("10")},
            {"amount": Decimal("550"), "tax_category": "S", "tax_rate": Decimal("10")},
        ],
        breakdown=[{"category": "S", "rate": Decimal("10"), "taxable_amount": Decimal("1500"),
                    "tax_amount": Decimal("150")}],
        number="KAIJU-1",
    )  # fmt: skip

    rows = _rows()

    assert [(r["ChargeCategory"], r["BilledCost"]) for r in rows] == [
        ("Usage", "1000.0"),
        ("Usage", "500.0"),
        ("Tax", "150.0"),
    ]


def test_timestamps_are_utc_with_a_z_whatever_the_tenants_time_zone():
    tenant = TenantFactory.create(slug="acme", timezone="Europe/Berlin")
    _october_invoice(
        tenant,
        period_key="2026-10",
        period_start=datetime(2026, 9, 30, 22, tzinfo=UTC),
        period_end=datetime(2026, 10, 31, 23, tzinfo=UTC),
    )

    row = _rows()[0]

    assert (row["BillingPeriodStart"], row["BillingPeriodEnd"]) == (
        "2026-09-30T22:00:00Z",
        "2026-10-31T23:00:00Z",
    )


def test_tags_are_a_json_object_of_prefixed_provider_tags():
    tenant = TenantFactory.create(slug="acme")
    _october_invoice(tenant)

    tags = [json.loads(r["Tags"]) for r in _rows()]

    assert tags[0] == {"billing/period": "2026-10", "billing/sku": "compute", "billing/tenant": "acme"}
    assert tags[-1] == {"billing/period": "2026-10", "billing/tenant": "acme"}


def test_drafts_are_not_exported():
    tenant = TenantFactory.create(slug="acme")
    _october_invoice(tenant, status=Invoice.Status.DRAFT)

    assert _rows() == []


def test_one_tenants_export_holds_only_its_own_rows():
    acme, globex = TenantFactory.create(slug="acme"), TenantFactory.create(slug="globex")
    _october_invoice(acme, number="ACME-1")
    _october_invoice(globex, number="GLOBEX-1")

    rows = _rows(tenant=globex)

    assert {(r["BillingAccountId"], r["InvoiceId"]) for r in rows} == {("globex", "GLOBEX-1")}
    assert focus_row_count(period="2026-10", tenant=globex) == len(rows) == 5


@pytest.mark.parametrize("period", ["2026-13", "26-10", "2026-Q5", "", "2026-10; drop"])
def test_a_bad_period_is_refused_before_anything_is_read(period):
    with pytest.raises(ValidationFailed, match="is not a period key"):
        focus_rows(period=period, tenant=None)


def test_the_csv_header_is_the_column_table_in_order_and_nothing_else():
    chunks = b"".join(csv_chunks(focus_rows(period="2026-10", tenant=None))).decode()

    assert chunks == ",".join(COLUMN_NAMES) + "\n"
    assert all(c.name.startswith("x_") for c in COLUMNS if c.level == "Custom")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("12.00"), "12.00"),
        (Decimal("12"), "12.0"),
        (Decimal("1E+2"), "100.0"),
        (Decimal("-0.50"), "-0.50"),
        (Decimal("0E-18"), "0.000000000000000000"),
    ],
)
def test_decimals_are_never_written_integer_looking(value, text):
    assert format_decimal(value) == text


@given(st.decimals(allow_nan=False, allow_infinity=False, places=None, min_value=-(10**12), max_value=10**12))
def test_a_formatted_decimal_has_a_point_no_exponent_and_reads_back_equal(value):
    text = format_decimal(value)

    assert "." in text
    assert "E" not in text.upper()
    assert Decimal(text) == value


def test_parquet_states_the_focus_version_and_types_its_columns(tmp_path: Path):
    import pyarrow.parquet as pq

    tenant = TenantFactory.create(slug="acme")
    _october_invoice(tenant)

    count = write_parquet(
        focus_rows(period="2026-10", tenant=None), tmp_path / "f.parquet", period="2026-10", tenant=None
    )

    file = pq.ParquetFile(tmp_path / "f.parquet")
    assert count == file.metadata.num_rows == 5
    assert file.schema_arrow.metadata[b"focus_version"] == b"1.2"
    assert str(file.schema_arrow.field("BilledCost").type) == "decimal128(38, 18)"
    assert str(file.schema_arrow.field("ChargePeriodStart").type) == "timestamp[us, tz=UTC]"
    assert sum(file.read().column("BilledCost").to_pylist()) == Decimal("178.50")


def test_the_command_writes_the_csv_and_says_how_many_rows(tmp_path: Path):
    tenant = TenantFactory.create(slug="acme")
    _october_invoice(tenant)
    out = StringIO()

    call_command(
        "export_focus", "--period", "2026-10", "--out", str(tmp_path / "f.csv"), "--no-progress", stdout=out
    )

    assert out.getvalue() == f"2026-10: 5 FOCUS rows -> {tmp_path / 'f.csv'}\n"
    assert (tmp_path / "f.csv").read_text().count("\n") == 6


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--period", "2026-10", "--tenant", "nobody"], "no tenant 'nobody'"),
        (["--period", "Oct", "--tenant", "acme"], "is not a period key"),
    ],
)
def test_the_command_exits_2_on_bad_input(tmp_path: Path, args, message):
    TenantFactory.create(slug="acme")

    with pytest.raises(CommandError, match=message) as err:
        call_command("export_focus", *args, "--out", str(tmp_path / "f.csv"), "--no-progress")

    assert err.value.returncode == 2


def test_the_command_refuses_an_unknown_suffix_without_format(tmp_path: Path):
    with pytest.raises(CommandError, match=r"use a \.csv or \.parquet name") as err:
        call_command("export_focus", "--period", "2026-10", "--out", str(tmp_path / "f.txt"), "--no-progress")

    assert err.value.returncode == 2


@given(
    st.lists(
        st.one_of(st.none(), st.text(alphabet=st.sampled_from('ab,"\n\r é1.-')), st.text()),
        min_size=2,
        max_size=8,
    )
)
def test_the_csv_lines_read_back_as_written_and_match_the_csv_module(cells):
    """Rows of two cells or more (a FOCUS row has dozens; the csv module quotes a lone empty cell). A bare
    carriage return is quoted too (the csv module leaves it bare with a newline line terminator)."""
    lines = CsvLines()

    line = lines.line(cells)

    assert next(csv.reader(io.StringIO(line, newline=""))) == ["" if c is None else c for c in cells]
    assert lines.line(cells) == line
    if not any(c and "\r" in c for c in cells):
        expected = io.StringIO()
        csv.writer(expected, lineterminator="\n").writerow(cells)
        assert line == expected.getvalue()


def test_demo_focus_writes_the_files_and_finds_every_sum_equal_to_its_document(tmp_path: Path):
    tenant = TenantFactory.create(slug="acme")
    _october_invoice(tenant)
    out = StringIO()

    call_command("demo_focus", "--out-dir", str(tmp_path), stdout=out)

    assert "  ACME-1: BilledCost 178.50, document 178.5000\n" in out.getvalue()
    assert out.getvalue().endswith("0 mismatches\n")
    assert (tmp_path / "focus-1.2-2026-10.csv").exists()
    assert (tmp_path / "focus-1.2-2026-10.parquet").exists()
