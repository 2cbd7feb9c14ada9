"""FOCUS export of 1,000,000 rows in < 30 s (issue 16): `export_focus`'s road (ledger.exports.focus_writers.
focus_export_file) writing one period's rows of every tenant to a CSV file, timed from the first query to
the file closed; the same to Parquet, reported beside it.

Seeding (timed and printed, in its own database): BENCH_FOCUS_TENANTS tenants (2,000), each with one
finalized invoice of period 2026-10 holding LINES usage lines over eight SKUs and one VAT row, so that the
export has BENCH_FOCUS_ROWS rows (1,000,000) in all: tenants with bulk_create, lines with one INSERT ...
SELECT over generate_series, subtotals and totals with one UPDATE, then every invoice finalized in one UPDATE
(the database's guard checks each subtotal against its lines). No ledger transaction: the export reads
the invoices, their lines and VAT, nothing else.

Environment: BENCH_PG (server URL without database, default postgres://root@127.0.0.1:5432),
BENCH_FOCUS_DB (billing_focus_bench), BENCH_FOCUS_ROWS (1,000,000), BENCH_FOCUS_TENANTS (2,000),
BENCH_FOCUS_PARQUET (1: also time the Parquet file), BENCH_FOCUS_REUSE=1 (measure an already seeded
database again, skipping the seeding)."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import benchdb

ROOT = Path(__file__).resolve().parent.parent
PG = os.environ.get("BENCH_PG", "postgres://root@127.0.0.1:5432")
DB_NAME = os.environ.get("BENCH_FOCUS_DB", "billing_focus_bench")
ROWS = int(os.environ.get("BENCH_FOCUS_ROWS", "1000000"))
TENANTS = int(os.environ.get("BENCH_FOCUS_TENANTS", "2000"))
PARQUET = os.environ.get("BENCH_FOCUS_PARQUET", "1") == "1"
REUSE = os.environ.get("BENCH_FOCUS_REUSE", "0") == "1"
GOAL_SECONDS = 30.0
PERIOD = "2026-10"
LINES = ROWS // TENANTS - 1  # usage lines per invoice; plus one VAT row each

ENV = {
    "DATABASE_URL": f"{PG}/{DB_NAME}",
    "DJANGO_SETTINGS_MODULE": "config.settings.base",
    "DEBUG": "0",
    "LOG_LEVEL": "WARNING",
    "CELERY_TASK_ALWAYS_EAGER": "1",
}

SKUS = [
    ("api_calls", "Developer Tools", "request"),
    ("compute_vcpu_hours", "Compute", "vCPU-hour"),
    ("egress_gb", "Networking", "GB"),
    ("storage_gb_month", "Storage", "GB-month"),
    ("active_users", "Identity", "user"),
    ("gpu_hours", "AI and Machine Learning", "GPU-hour"),
    ("payments_volume", "Business Applications", "currency unit"),
    ("marketplace_sales", "Business Applications", "sale"),
]


def fresh_database() -> None:
    benchdb.fresh_database(server=PG, name=DB_NAME, env=ENV)


def django_setup() -> None:
    benchdb.django_setup(ENV)


def seed() -> float:
    from datetime import UTC, datetime

    from django.db import connection, transaction

    from ledger.models import Invoice, TaxBreakdown
    from tenants.models import Tenant

    started = time.perf_counter()
    start, end = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)
    with transaction.atomic():
        tenants = Tenant.objects.bulk_create(
            Tenant(
                name=f"Focus Bench {n:05d}",
                slug=f"focus-{n:05d}",
                country="DE",
                tax_jurisdiction="DE",
                currency="EUR",
                timezone="UTC",
            )
            for n in range(TENANTS)
        )
        invoices = Invoice.objects.bulk_create(
            Invoice(
                tenant=t,
                period_key=PERIOD,
                period_start=start,
                period_end=end,
                currency="EUR",
                base_currency="EUR",
                tax_jurisdiction="DE",
                tax_rate=19,
            )
            for t in tenants
        )
        skus = ", ".join(f"('{code}', '{category}', '{unit}')" for code, category, unit in SKUS)
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                WITH sku(code, category, unit) AS (VALUES {skus}),
                     sku_n AS (SELECT row_number() OVER () - 1 AS k, * FROM sku)
                INSERT INTO ledger_invoiceline (invoice_id, position, kind, sku_code, service_category,
                    description, quantity, unit_label, amount_exact, amount, discount_code, breakdown,
                    corrects_period, component, tax_category, tax_rate)
                SELECT i.id, g, 'usage', s.code, s.category, s.code || ' (segment ' || g || ')',
                       (g * 37 %% 10000) + 0.5, s.unit, (g * 13 %% 10000) / 100.0, (g * 13 %% 10000) / 100.0,
                       '', '[]'::jsonb, '', 'usage:' || s.code || ':' || g, 'S', 19
                FROM ledger_invoice i CROSS JOIN generate_series(1, %s) g
                JOIN sku_n s ON s.k = g %% {len(SKUS)}
                WHERE i.period_key = %s
                """,
                [LINES, PERIOD],
            )
            cursor.execute(
                """
                UPDATE ledger_invoice i SET subtotal = s.total, tax_total = round(s.total * 0.19, 2),
                    total = s.total + round(s.total * 0.19, 2), amount_due = s.total + round(s.total * 0.19, 2)
                FROM (SELECT invoice_id, sum(amount) AS total FROM ledger_invoiceline GROUP BY invoice_id) s
                WHERE s.invoice_id = i.id
                """
            )
        TaxBreakdown.objects.bulk_create(
            TaxBreakdown(
                invoice_id=inv.pk,
                category="S",
                rate=19,
                taxable_amount=inv_subtotal,
                tax_amount=inv_tax,
            )
            for inv, (inv_subtotal, inv_tax) in zip(
                invoices,
                Invoice.objects.filter(pk__in=[i.pk for i in invoices])
                .order_by("pk")
                .values_list("subtotal", "tax_total"),
                strict=True,
            )
        )
        with connection.cursor() as cursor:
            cursor.execute(
                """
                UPDATE ledger_invoice SET status = 'finalized', number = 'FB-' || lpad(id::text, 8, '0'),
                    finalized_at = period_end + interval '5 days'
                WHERE period_key = %s AND status = 'draft'
                """,
                [PERIOD],
            )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE ledger_invoice; ANALYZE ledger_invoiceline; ANALYZE ledger_taxbreakdown")
    return time.perf_counter() - started


def measure(fmt: str) -> tuple[int, float, int]:
    from ledger.exports.focus_writers import focus_export_file

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"focus.{fmt}"
        started = time.perf_counter()
        rows = focus_export_file(period=PERIOD, tenant=None, path=path, fmt=fmt)
        seconds = time.perf_counter() - started
        return rows, seconds, path.stat().st_size


def main() -> int:
    if not REUSE:
        fresh_database()
    django_setup()
    if not REUSE:
        seconds = seed()
        print(
            f"focus: seeded {TENANTS:,} invoices x ({LINES} lines + 1 VAT row) in {seconds:.1f} s", flush=True
        )
    load = os.getloadavg()
    rows, seconds, size = measure("csv")
    ok = seconds < GOAL_SECONDS and rows >= ROWS
    print(
        f"focus: {rows:,} FOCUS rows to CSV in {seconds:.1f} s ({rows / seconds:,.0f} rows/s, "
        f"{size / 1e6:.0f} MB); goal < {GOAL_SECONDS:.0f} s: ratio {seconds / GOAL_SECONDS:.2f} "
        f"{'met' if ok else 'MISSED'}; load average before {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
        flush=True,
    )
    if PARQUET:
        rows_pq, seconds_pq, size_pq = measure("parquet")
        print(
            f"focus: {rows_pq:,} FOCUS rows to Parquet in {seconds_pq:.1f} s ({size_pq / 1e6:.1f} MB); "
            f"ratio to the same goal {seconds_pq / GOAL_SECONDS:.2f}",
            flush=True,
        )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
