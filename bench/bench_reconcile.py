"""Reconciliation of one period: N tenants (default 10,000) x 9 usage SKUs + a flat fee, closed.

Seeding (not timed): bench_backtest.py's seed (one EUR profile, 10 SKUs, 9 SKUs of rated usage per tenant
in November 2026, three time zones) and its close of November by `close_periods` in BENCH_CLOSE_PROCS
processes (real invoices, lines and hash-chained ledger postings); rating's estimates of November written
from the invoices' usage lines (one INSERT ... SELECT), every 100th tenant's first SKU 5.00 dearer; a
provider FOCUS CSV of one Usage row per tenant and SKU (every 500th tenant's GPU row 2.00 dearer), imported
with `provider_import_create` (timed apart). Timed: `reconcile_period` of 2026-11, as the command and the
beat task run it (three checks, deltas stored, gauge and alerts). Checked: the deltas found are exactly
the ones planted.

Goal: < 30 s for 10,000 tenants. Environment: BENCH_PG, BENCH_TENANTS (10000), BENCH_RECONCILE_DB
(billing_rc_bench), BENCH_CLOSE_PROCS (2), BENCH_RECONCILE_REUSE=1 (keep a database seeded by an earlier
run: only the timed part runs)."""

from __future__ import annotations

import csv
import io
import os
import sys
import time
from pathlib import Path

os.environ["BENCH_BACKTEST_DB"] = os.environ.get("BENCH_RECONCILE_DB", "billing_rc_bench")
os.environ["BENCH_CLOSE_DB"] = os.environ["BENCH_BACKTEST_DB"]
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_backtest
import bench_close

TENANTS = bench_backtest.TENANTS
REUSE = os.environ.get("BENCH_RECONCILE_REUSE") == "1"
GOAL_SECONDS = 30.0
PERIOD = "2026-11"

_ESTIMATES = """
INSERT INTO billing_tenantusageestimate
    (tenant_id, period_key, period_start, period_end, sku_id, quantity, event_count, amount, currency, updated_at)
SELECT i.tenant_id, i.period_key, i.period_start, i.period_end, s.id, SUM(l.quantity), 1,
       SUM(l.amount) + CASE WHEN i.tenant_id %% 100 = 0 AND s.code = 'b_api_calls' THEN 5 ELSE 0 END,
       i.currency, now()
FROM ledger_invoiceline l JOIN ledger_invoice i ON i.id = l.invoice_id JOIN billing_sku s ON s.code = l.sku_code
WHERE i.period_key = %s AND l.kind = 'usage'
GROUP BY i.tenant_id, i.period_key, i.period_start, i.period_end, s.id, s.code, i.currency
"""


def seed_figures() -> tuple[int, int]:
    """(estimates written, provider rows written); returns the planted counts too via the checks."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM billing_tenantusageestimate WHERE period_key = %s", [PERIOD])
        cursor.execute(_ESTIMATES, [PERIOD])
        written = cursor.rowcount
        cursor.execute("ANALYZE billing_tenantusageestimate")
        cursor.execute(
            "SELECT t.slug, t.id, s.code, e.amount, e.currency FROM billing_tenantusageestimate e "
            "JOIN tenants_tenant t ON t.id = e.tenant_id JOIN billing_sku s ON s.id = e.sku_id "
            "WHERE e.period_key = %s ORDER BY t.slug, s.code",
            [PERIOD],
        )
        rows = cursor.fetchall()
    return written, len(rows)


def provider_csv() -> bytes:
    from django.db import connection

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["BillingAccountId", "SkuId", "ChargeCategory", "BilledCost", "BillingCurrency"])
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t.slug, t.id, s.code, e.amount, e.currency FROM billing_tenantusageestimate e "
            "JOIN tenants_tenant t ON t.id = e.tenant_id JOIN billing_sku s ON s.id = e.sku_id "
            "WHERE e.period_key = %s ORDER BY t.slug, s.code",
            [PERIOD],
        )
        for slug, tenant_id, sku, amount, currency in cursor.fetchall():
            cost = amount.quantize(amount.__class__("0.01"))
            if tenant_id % 500 == 0 and sku == "b_gpu":
                cost += 2
            writer.writerow([slug, sku, "Usage", f"{cost:f}", currency])
    return out.getvalue().encode()


def main() -> int:
    if not REUSE:
        bench_close.fresh_database()
    bench_close.django_setup()
    if not REUSE:
        seed_seconds = bench_backtest.seed(TENANTS)
        close_seconds, statuses = bench_backtest.close_all()
        print(
            f"reconcile: seeded {TENANTS:,} tenants in {seed_seconds:.1f} s, closed November in {close_seconds:.1f} s ({statuses})"
        )
    from billing.reconciliation.services import reconcile_period
    from ledger.models import Invoice, ProviderImport, ReconciliationRun
    from ledger.reconciliation.services import provider_import_create

    estimates, _ = seed_figures()
    content = provider_csv()
    ReconciliationRun.objects.filter(period_key=PERIOD).delete()  # a reused database: earlier runs first
    ProviderImport.objects.filter(period_key=PERIOD).delete()
    started = time.perf_counter()
    record = provider_import_create(
        provider="bench", period_key=PERIOD, file_name="bench.csv", content=content
    )
    import_seconds = time.perf_counter() - started
    invoices = Invoice.objects.filter(period_key=PERIOD, status="finalized").count()
    planted_rated = sum(
        1
        for t in Invoice.objects.filter(period_key=PERIOD).values_list("tenant_id", flat=True)
        if t % 100 == 0
    )
    planted_provider = sum(
        1
        for t in Invoice.objects.filter(period_key=PERIOD).values_list("tenant_id", flat=True)
        if t % 500 == 0
    )
    load = os.getloadavg()[0]
    started, cpu_started = time.perf_counter(), time.process_time()
    run = reconcile_period(period_key=PERIOD, trigger="bench", provider="bench")
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    summary = run.summary
    print(
        f"reconcile: {invoices:,} finalized invoices, {estimates:,} estimates, {record.rows_read:,} provider rows "
        f"(imported in {import_seconds:.1f} s); run {run.pk} in {seconds:.1f} s ({cpu:.1f} s of CPU), load average "
        f"{load:.2f} at the start; rated_vs_invoiced {summary['rated_vs_invoiced']['compared']:,} compared, "
        f"{summary['rated_vs_invoiced']['deltas']} deltas (planted {planted_rated}), "
        f"{summary['rated_vs_invoiced']['breached']} breached; invoices_vs_ledger "
        f"{summary['invoices_vs_ledger']['compared']:,} compared, {summary['invoices_vs_ledger']['deltas']} deltas; "
        f"provider_vs_rated {summary['provider_vs_rated']['compared']:,} compared, "
        f"{summary['provider_vs_rated']['deltas']} deltas (planted {planted_provider}), "
        f"{summary['provider_vs_rated']['breached']} breached (2.00 on a large GPU bill is under 0.5 %)"
    )
    ratio = seconds / (GOAL_SECONDS * TENANTS / 10_000)
    verdict = "MET" if ratio <= 1 else "NOT met"
    print(f"reconcile: {ratio:.2f}x the goal (< 30 s for 10,000 tenants): {verdict}")
    ok = (
        summary["rated_vs_invoiced"]["deltas"] == planted_rated
        and summary["invoices_vs_ledger"]["deltas"] == 0
        and summary["provider_vs_rated"]["deltas"] == planted_provider
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
