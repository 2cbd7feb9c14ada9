"""Period close throughput: N tenants x 10 SKUs (default 10,000), no PDFs, against a fresh PostgreSQL
database. The tenants are closed by `close_periods` exactly as the beat task or `manage.py close_period`
does it (a chunk of tenants per transaction: tenant row locks, numbering, ledger postings, hash chain).
Goal: < 60 s.

Environment: BENCH_PG (server URL without database, default postgres://root@127.0.0.1:5432),
BENCH_CLOSE_DB (billing_c_bench), BENCH_TENANTS (10000), BENCH_CLOSE_PROCS (worker processes, 2),
BENCH_CLOSE_CHUNK (tenants per transaction, default billing.close.services.DEFAULT_CHUNK; 0: one
`close_period` per tenant, the interactive `--tenant` path)."""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import benchdb

ROOT = Path(__file__).resolve().parent.parent
PG = os.environ.get("BENCH_PG", "postgres://root@127.0.0.1:5432")
DB_NAME = os.environ.get("BENCH_CLOSE_DB", "billing_c_bench")
TENANTS = int(os.environ.get("BENCH_TENANTS", "10000"))
PROCS = int(os.environ.get("BENCH_CLOSE_PROCS", "2"))
CHUNK = os.environ.get("BENCH_CLOSE_CHUNK", "")
PERIOD = "2026-11"
NOW = datetime(2026, 12, 10, tzinfo=UTC)

ENV = {
    "DATABASE_URL": f"{PG}/{DB_NAME}",
    "DJANGO_SETTINGS_MODULE": "config.settings.base",
    "DEBUG": "0",
    "LOG_LEVEL": "WARNING",
    "INVOICE_PDF_ON_FINALIZE": "0",
    "CELERY_TASK_ALWAYS_EAGER": "1",
}

SKUS: list[tuple[str, dict[str, Any]]] = [
    (
        "b_api_calls",
        {
            "model": "graduated",
            "tiers": [
                {"up_to": "1000", "unit_amount": "0", "flat_amount": "0"},
                {"up_to": "100000", "unit_amount": "0.002"},
                {"up_to": None, "unit_amount": "0.001", "flat_amount": "5"},
            ],
        },
    ),
    ("b_storage", {"model": "per_unit", "unit_amount": "0.023", "free_units": "5"}),
    ("b_egress", {"model": "package", "package_size": "100", "package_amount": "5.00"}),
    (
        "b_compute",
        {
            "model": "volume",
            "tiers": [{"up_to": "100", "unit_amount": "0.05"}, {"up_to": None, "unit_amount": "0.04"}],
        },
    ),
    ("b_gpu", {"model": "per_unit", "unit_amount": "1.20"}),
    ("b_queue", {"model": "per_unit", "unit_amount": "0.0004"}),
    ("b_db", {"model": "per_unit", "unit_amount": "0.11"}),
    (
        "b_cdn",
        {
            "model": "graduated",
            "tiers": [{"up_to": "500", "unit_amount": "0.01"}, {"up_to": None, "unit_amount": "0.008"}],
        },
    ),
    ("b_logs", {"model": "per_unit", "unit_amount": "0.5", "free_units": "1"}),
    ("b_support", {"model": "flat", "amount": "49.00"}),
]


def fresh_database() -> None:
    benchdb.fresh_database(server=PG, name=DB_NAME, env=ENV)


def django_setup() -> None:
    benchdb.django_setup(ENV)


def seed(n: int) -> float:
    from django.contrib.auth import get_user_model

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
    User = get_user_model()
    author = User.objects.create(username="bench-author")
    approver = User.objects.create(username="bench-approver")
    membership_grant(user=author, role=Role.FINANCE_EDITOR)
    membership_grant(user=approver, role=Role.FINANCE_APPROVER)
    skus = []
    for code, _price in SKUS:
        meter = Meter.objects.create(code=f"m-{code}", name=code, unit="unit")
        skus.append(
            Sku.objects.create(code=code, name=code.replace("_", " "), meter=meter, unit_label="unit")
        )
    versions = {}
    for currency in ("EUR", "USD"):
        profile = BillingProfile.objects.create(code=f"bench-{currency.lower()}", name=f"Bench {currency}")
        body: dict[str, Any] = {
            "profile": profile.code,
            "currency": currency,
            "billing_cycle": "monthly",
            "grace_hours": 72,
            "tax": {"mode": "exclusive"},
            "prices": [{"sku": code, **price} for code, price in SKUS],
            "discounts": [{"code": "bench5", "percent": "5", "skus": ["b_api_calls"], "priority": 1}],
            "commitments": {"minimum_spend": "50.00"},
        }
        # through the workflow: the database takes a version only as a draft, approved by a finance approver
        draft = profile_version_create(
            profile=profile, body=body, effective_from=datetime(2026, 1, 1, tzinfo=UTC), author=author
        )
        versions[currency] = profile_version_approve(
            version=profile_version_submit(version=draft, actor=author),
            approver=approver,
            allow_backdated=True,
        )
    tenants = Tenant.objects.bulk_create(
        [
            Tenant(
                slug=f"bench-{i:05d}",
                name=f"Bench {i}",
                country="DE",
                tax_jurisdiction=("DE", "FR", "GB")[i % 3],
                currency="USD" if i % 10 == 0 else "EUR",
                timezone=("UTC", "Europe/Berlin", "Asia/Tokyo")[i % 3],
            )
            for i in range(n)
        ],
        batch_size=2000,
    )
    ProfileAssignment.objects.bulk_create(
        [
            ProfileAssignment(
                tenant=t,
                profile_id=versions[t.currency].profile_id,
                effective_from=datetime(2026, 1, 1, tzinfo=UTC),
            )
            for t in tenants
        ],
        batch_size=2000,
    )
    rows = []
    for i, tenant in enumerate(tenants):
        version = versions[tenant.currency]
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
    from django.db import connection

    with connection.cursor() as cursor:
        # Statistics for the seeded tables only. The ledger tables start empty and must stay
        # "never analyzed" (reltuples -1): with statistics saying 0 rows, the plans cached by each
        # worker session (foreign-key checks, trigger queries) would be sequential scans for the
        # whole run, which is quadratic as the tables grow (measured: 376 s instead of ~60 s).
        for table in ("tenants_tenant", "billing_profileassignment", "billing_usageaggregate", "billing_sku"):
            cursor.execute(f"ANALYZE {table}")
    return time.perf_counter() - started


def worker(ids: list[int], out: Any, start_at: float) -> None:
    django_setup()
    from django.db import connection

    from billing.close.compute import CloseCache
    from billing.close.services import DEFAULT_CHUNK, close_period, close_periods
    from tenants.models import Tenant

    chunk = int(CHUNK) if CHUNK else DEFAULT_CHUNK
    connection.ensure_connection()
    tenants = list(Tenant.objects.filter(pk__in=ids).order_by("pk"))
    cache = CloseCache()
    statements = [0]

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        statements[0] += 1
        return execute(sql, params, many, context)

    while time.time() < start_at:
        time.sleep(0.001)
    started = time.perf_counter()
    statuses: dict[str, int] = {}
    with connection.execute_wrapper(count):
        if chunk == 0:
            results = [close_period(tenant=t, period_key=PERIOD, now=NOW, cache=cache) for t in tenants]
        else:
            results = close_periods(
                tenants=tenants, period_key=PERIOD, now=NOW, cache=cache, chunk_size=chunk
            )
    for result in results:
        statuses[result.status] = statuses.get(result.status, 0) + 1
    out.put(
        {
            "seconds": time.perf_counter() - started,
            "statuses": statuses,
            "finished": time.time(),
            "statements": statements[0],
        }
    )


def main() -> int:
    fresh_database()
    django_setup()
    seed_seconds = seed(TENANTS)
    print(
        f"close: seeded {TENANTS:,} tenants x {len(SKUS)} SKUs ({TENANTS * 9:,} aggregates) "
        f"in {seed_seconds:.1f} s"
    )
    from django.db import connection

    from ledger.models import Invoice, Transaction
    from ledger.verify import ledger_verify
    from tenants.models import Tenant

    ids = list(Tenant.objects.order_by("pk").values_list("pk", flat=True))
    connection.close()
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    start_at = time.time() + 3.0
    procs = [ctx.Process(target=worker, args=(ids[k::PROCS], out, start_at)) for k in range(PROCS)]
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    wall = max(r["finished"] for r in results) - start_at
    statuses: dict[str, int] = {}
    for r in results:
        for k, v in r["statuses"].items():
            statuses[k] = statuses.get(k, 0) + v
    finalized = Invoice.objects.filter(status="finalized").count()
    txs = Transaction.objects.count()
    verify_started = time.perf_counter()
    verified = ledger_verify()
    verify_seconds = time.perf_counter() - verify_started
    print(
        f"close: {TENANTS:,} tenants in {wall:.1f} s with {PROCS} processes "
        f"({wall / TENANTS * 1000:.2f} ms per tenant wall, "
        f"{sum(r['seconds'] for r in results) / TENANTS * 1000:.2f} ms per tenant per process); "
        f"statuses {statuses}; {finalized:,} finalized invoices, {txs:,} ledger transactions; "
        f"{sum(r['statements'] for r in results) / TENANTS:.2f} SQL statements per tenant "
        f"(BEGIN/COMMIT not counted), chunk {CHUNK or 'default'}"
    )
    print(f"close: ledger_verify {verified.message} in {verify_seconds:.1f} s")
    # Baseline: the goal, 60 s for 10,000 tenants, i.e. 6 ms of wall clock per tenant.
    ratio = (wall / TENANTS) / (60 / 10_000)
    verdict = "MET" if ratio <= 1 else "NOT met"
    print(f"close: {ratio:.2f}x the goal's 6.0 ms per tenant (< 60 s for 10,000 tenants): {verdict}")
    return 0 if statuses.get("finalized") == TENANTS and verified.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
