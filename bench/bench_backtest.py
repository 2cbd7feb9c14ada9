"""Backtest of a draft: N tenants x 10 SKUs x 1 closed period (default 10,000 tenants), one profile.

Seeding (not timed): bench_close.py's 10 SKUs (graduated, per unit, package, volume, a flat fee; a 5 %
discount and a minimum spend) on one EUR profile for every tenant (time zones UTC, Europe/Berlin and
Asia/Tokyo: three period ranges), 9 SKUs of rated usage each in November 2026, and the period closed by
`close_periods` in BENCH_CLOSE_PROCS processes (bench_close.worker), as the beat task closes it. Timed:
`backtest_run` of a draft of that profile (every price 10 % dearer, a cheaper graduated tier, a bigger
discount) over 1 period, as an approval request runs it (an unsaved version; BACKTEST_WORKERS forked
processes, default 2, share the tenants). The run is checked: every tenant has a row and none is
blocked. Reported: wall clock, CPU of this process and of its workers, SQL statements of this process.

Goal: < 30 s for 10,000 tenants on the 2-core machine. Environment: BENCH_PG, BENCH_TENANTS (10000),
BENCH_BACKTEST_DB (billing_bt_bench), BENCH_CLOSE_PROCS (2), BENCH_BACKTEST_REUSE=1 (keep a database
seeded by an earlier run: only the timed part runs), BENCH_BACKTEST_PROFILE=1 (print a cProfile of the
timed part; with BACKTEST_WORKERS=1, or it profiles only the parent), BENCH_BACKTEST_SORT (its order)."""

from __future__ import annotations

import copy
import multiprocessing as mp
import os
import resource
import sys
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

os.environ["BENCH_CLOSE_DB"] = os.environ.get(
    "BENCH_BACKTEST_DB", "billing_bt_bench"
)  # bench_close.worker too
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_close

TENANTS = int(os.environ.get("BENCH_TENANTS", "10000"))
PROCS = int(os.environ.get("BENCH_CLOSE_PROCS", "2"))
REUSE = os.environ.get("BENCH_BACKTEST_REUSE") == "1"
PROFILE = os.environ.get("BENCH_BACKTEST_PROFILE") == "1"
GOAL_SECONDS = 30.0
JAN_1 = datetime(2026, 1, 1, tzinfo=UTC)


def body(code: str) -> dict[str, Any]:
    return {
        "profile": code,
        "currency": "EUR",
        "billing_cycle": "monthly",
        "grace_hours": 72,
        "tax": {"mode": "exclusive"},
        "prices": [{"sku": code_, **price} for code_, price in bench_close.SKUS],
        "discounts": [{"code": "bench5", "percent": "5", "skus": ["b_api_calls"], "priority": 1}],
        "commitments": {"minimum_spend": "50.00"},
    }


def draft_body(code: str) -> dict[str, Any]:
    """Every amount 10 % dearer, the compute tier cheaper above 100, the discount 8 %."""
    doc = copy.deepcopy(body(code))

    def dearer(value: str) -> str:
        return str((Decimal(value) * Decimal("1.1")).normalize())

    for price in doc["prices"]:
        for key in ("unit_amount", "amount", "package_amount"):
            if key in price:
                price[key] = dearer(price[key])
        for tier in price.get("tiers", []):
            tier["unit_amount"] = dearer(tier["unit_amount"])
    doc["prices"][3]["tiers"][1]["unit_amount"] = "0.035"
    doc["discounts"][0]["percent"] = "8"
    return doc


def seed(n: int) -> float:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from billing.catalog.models import Meter, Sku
    from billing.demo_finance import seed_finance_reference_data
    from billing.governance.versions import profile_version_approve, profile_version_submit
    from billing.profiles.models import BillingProfile, ProfileAssignment
    from billing.profiles.services import profile_version_create
    from billing.rating.models import UsageAggregate
    from tenants.models import Role, Tenant
    from tenants.services import membership_grant

    started = time.perf_counter()
    seed_finance_reference_data(today=date(2026, 12, 5))
    user_model = get_user_model()
    author = user_model.objects.create(username="bench-author")
    approver = user_model.objects.create(username="bench-approver")
    membership_grant(user=author, role=Role.FINANCE_EDITOR)
    membership_grant(user=approver, role=Role.FINANCE_APPROVER)
    skus = []
    for code, _price in bench_close.SKUS:
        meter = Meter.objects.create(code=f"m-{code}", name=code, unit="unit")
        skus.append(
            Sku.objects.create(code=code, name=code.replace("_", " "), meter=meter, unit_label="unit")
        )
    profile = BillingProfile.objects.create(code="bench-backtest", name="Bench backtest")
    draft = profile_version_create(
        profile=profile, body=body(profile.code), effective_from=JAN_1, author=author
    )
    version = profile_version_approve(
        version=profile_version_submit(version=draft, actor=author), approver=approver, allow_backdated=True
    )
    tenants = Tenant.objects.bulk_create(
        [
            Tenant(
                slug=f"bt-{i:05d}",
                name=f"Backtest {i}",
                country="DE",
                tax_jurisdiction=("DE", "FR", "GB")[i % 3],
                currency="EUR",
                timezone=("UTC", "Europe/Berlin", "Asia/Tokyo")[i % 3],
            )
            for i in range(n)
        ],
        batch_size=2000,
    )
    ProfileAssignment.objects.bulk_create(
        [ProfileAssignment(tenant=t, profile=profile, effective_from=JAN_1) for t in tenants], batch_size=2000
    )
    rows = []
    for i, tenant in enumerate(tenants):
        for j, sku in enumerate(skus[:9]):  # the 10th SKU is the flat support fee
            hour = datetime(2026, 11, 10 + j, 12, tzinfo=UTC)
            rows.append(
                UsageAggregate(
                    tenant=tenant,
                    sku=sku,
                    profile_version=version,
                    hour=hour,
                    quantity=Decimal((i * 7919 + j * 104729) % 250000) / 10,
                    event_count=1 + (i + j) % 50,
                    first_event_at=hour,
                    last_event_at=hour,
                    updated_at=hour,
                )
            )
        if len(rows) >= 20000:
            UsageAggregate.objects.bulk_create(rows)
            rows = []
    UsageAggregate.objects.bulk_create(rows)
    with connection.cursor() as cursor:
        for table in ("tenants_tenant", "billing_profileassignment", "billing_usageaggregate", "billing_sku"):
            cursor.execute(f"ANALYZE {table}")
    return time.perf_counter() - started


def close_all() -> tuple[float, dict[str, int]]:
    """The seeded period closed by `close_periods` in PROCS processes (bench_close.worker)."""
    from django.db import connection

    from tenants.models import Tenant

    ids = list(Tenant.objects.order_by("pk").values_list("pk", flat=True))
    connection.close()
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    start_at = time.time() + 2.0
    procs = [
        ctx.Process(target=bench_close.worker, args=(ids[k::PROCS], out, start_at)) for k in range(PROCS)
    ]
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    statuses: dict[str, int] = {}
    for r in results:
        for k, v in r["statuses"].items():
            statuses[k] = statuses.get(k, 0) + v
    return max(r["finished"] for r in results) - start_at, statuses


def main() -> int:
    if not REUSE:
        bench_close.fresh_database()
    bench_close.django_setup()
    if not REUSE:
        seed_seconds = seed(TENANTS)
        close_seconds, statuses = close_all()
        print(
            f"backtest: seeded {TENANTS:,} tenants x {len(bench_close.SKUS)} SKUs in {seed_seconds:.1f} s, "
            f"closed November in {close_seconds:.1f} s ({statuses})"
        )
    from django.conf import settings
    from django.db import connection

    from billing.governance.backtest import backtest_run
    from billing.pricing import document_sha256
    from billing.profiles.models import BillingProfile, ProfileVersion
    from ledger.models import Invoice

    profile = BillingProfile.objects.get(code="bench-backtest")
    doc = draft_body(profile.code)
    draft = ProfileVersion(profile=profile, number=0, body=doc, body_sha256=document_sha256(doc))
    invoices = Invoice.objects.filter(status="finalized").count()
    load = os.getloadavg()[0]
    statements = [0]

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        statements[0] += 1
        return execute(sql, params, many, context)

    profiler = None
    if PROFILE:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    started, cpu_started = time.perf_counter(), time.process_time()
    with connection.execute_wrapper(count):
        result = backtest_run(version=draft, periods=1, now=bench_close.NOW)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    workers_cpu = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    if profiler is not None:
        import pstats

        profiler.disable()
        pstats.Stats(profiler).sort_stats(os.environ.get("BENCH_BACKTEST_SORT", "cumulative")).print_stats(35)
    summary = result.summary
    print(
        f"backtest: {summary['tenants']:,} tenants ({summary['rows']:,} periods, {summary['blocked']} blocked, "
        f"{invoices:,} finalized invoices) re-priced in {seconds:.1f} s ({cpu:.1f} s of CPU in this process, {workers_cpu:.1f} s in its {settings.BACKTEST_WORKERS} workers), {statements[0]} SQL statements in this process, "
        f"load average {load:.2f} at the start; revenue {summary['revenue_old']} -> {summary['revenue_new']} "
        f"{summary['currency']} ({summary['revenue_delta_pct']} %), p50 {summary['p50_pct']} %, "
        f"p95 {summary['p95_pct']} %, max {summary['max_pct']} %; hash {result.result_hash[:12]}"
    )
    ratio = seconds / (GOAL_SECONDS * TENANTS / 10_000)
    verdict = "MET" if ratio <= 1 else "NOT met"
    print(f"backtest: {ratio:.2f}x the goal (< 30 s for 10,000 tenants x 10 SKUs x 1 period): {verdict}")
    ok = summary["tenants"] == TENANTS and summary["blocked"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
