"""Finance's dashboards (executive, on-call, debug) with 10,000 tenants. Goal: each page < 300 ms p95.

Seeding (bulk SQL on a fresh database, database triggers off for the seeding session only; printed, not
timed against the goal): BENCH_TENANTS tenants (80 % EUR, 15 % USD, 5 % GBP; signed USD and GBP rates for
today), 12 closed monthly periods of invoices per tenant (paid, except the last two months: finalized,
a tenth of them overdue; 1 % disputed), this period's running estimates (2 SKUs per tenant) and the
estimates of the 12 closed periods, hourly aggregates for the current period (2 SKUs per tenant; a fifth
of the tenants send every hour, the others one hour in six), rating batches and ingest requests (bodies
of 20 results, 1 % with a rejection) for every active tenant-hour of the last BENCH_DASH_BATCH_DAYS (7)
and ingest requests of the last 3 days (their retention is 72 h by default), 5,000 quarantined events in
the last 24 h and 50,000 older, 200 open alerts and 5,000 resolved, and price-list versions and rollouts.

Measuring: BENCH_DASH_CLIENTS processes (2), each a django.test.Client signed in as a finance viewer, the
whole Django stack in-process; each requests the three dashboards in turn BENCH_DASH_REQUESTS times (30).
Two runs: "computed" (DASHBOARD_MAX_AGE_SECONDS=0: every request runs every query) and "served" (as in
production: a refresher process runs the beat task's `dashboards_refresh` every DASHBOARD_REFRESH_SECONDS,
20, and the pages show the kept figures; the refresh's own duration is reported too). Reported per page:
p50 / p95 / p99 / max and p95 / goal.

Environment: BENCH_PG (postgres://root@127.0.0.1:5432), BENCH_DASH_DB (billing_dash_bench),
BENCH_REDIS (redis://127.0.0.1:6379/14), BENCH_TENANTS (10000), BENCH_DASH_REUSE=1 (measure an already
seeded database again)."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import benchdb

ROOT = Path(__file__).resolve().parent.parent
PG = os.environ.get("BENCH_PG", "postgres://root@127.0.0.1:5432")
DB_NAME = os.environ.get("BENCH_DASH_DB", "billing_dash_bench")
REDIS_URL = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/14")
TENANTS = int(os.environ.get("BENCH_TENANTS", "10000"))
CLIENTS = int(os.environ.get("BENCH_DASH_CLIENTS", "2"))
REQUESTS = int(os.environ.get("BENCH_DASH_REQUESTS", "30"))
BATCH_DAYS = int(os.environ.get("BENCH_DASH_BATCH_DAYS", "7"))
REUSE = os.environ.get("BENCH_DASH_REUSE", "0") == "1"
GOAL_MS = 300.0
VIEWER = "dash-bench-viewer"
PAGES = {
    "executive": "/portal/finance/dashboards/executive/",
    "on-call": "/portal/finance/dashboards/on-call/",
    "debug": "/portal/finance/dashboards/debug/",
}
ENV = {
    "DATABASE_URL": f"{PG}/{DB_NAME}",
    "REDIS_URL": REDIS_URL,
    "DJANGO_SETTINGS_MODULE": "config.settings.base",
    "DEBUG": "0",
    "LOG_LEVEL": "WARNING",
    "CELERY_TASK_ALWAYS_EAGER": "1",
}


def fresh_database() -> None:
    benchdb.fresh_database(server=PG, name=DB_NAME, env=ENV)


def django_setup() -> None:
    benchdb.django_setup(ENV)


def month_back(day: date, back: int) -> date:
    index = day.year * 12 + day.month - 1 - back
    return date(index // 12, index % 12 + 1, 1)


def run_sql(sql: str, params: list[Any] | None = None) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return int(cursor.rowcount)


def step(label: str, started: float) -> float:
    now = time.perf_counter()
    print(f"  {label}: {now - started:.1f} s", flush=True)
    return now


def seed() -> None:
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from billing.catalog.models import Meter, Sku
    from billing.close.fx import exchange_rate_create
    from tenants.models import Role
    from tenants.services import membership_grant

    now = timezone.now()
    today = now.date()
    t = time.perf_counter()
    run_sql("SET session_replication_role = replica")  # the seeding session only: triggers off
    users = get_user_model()
    viewer = users.objects.create(username=VIEWER)
    membership_grant(user=viewer, role=Role.FINANCE_VIEWER)
    author = users.objects.create(username="dash-bench-author")
    customer = users.objects.create(username="dash-bench-customer")
    for quote, rate in (("USD", "1.08"), ("GBP", "0.85")):
        exchange_rate_create(day=today, base="EUR", quote=quote, rate=Decimal(rate), source="bench")
    skus = []
    for code in ("api_calls", "compute_hours", "storage_gb", "egress_gb"):
        meter = Meter.objects.create(code=f"m-{code}", name=code, unit="unit")
        skus.append(Sku.objects.create(code=code, name=code, meter=meter, unit_label="unit"))
    sku_ids = [s.pk for s in skus]
    run_sql(
        """INSERT INTO tenants_tenant (slug, name, status, country, tax_jurisdiction, currency, timezone, locale,
               address, vat_id, created_at)
           SELECT 'dash-' || lpad(i::text, 5, '0'), 'Dashboard tenant ' || i, 'active', 'DE', 'DE',
                  CASE WHEN i %% 20 = 0 THEN 'GBP' WHEN i %% 20 < 4 THEN 'USD' ELSE 'EUR' END,
                  'UTC', 'en', '', '', now()
           FROM generate_series(1, %s) AS i""",
        [TENANTS],
    )
    t = step(f"{TENANTS:,} tenants", t)
    run_sql(
        """INSERT INTO billing_billingprofile (code, name, description, created_at)
           VALUES ('dash-bench', 'Dashboard bench', '', now())"""
    )
    run_sql(
        """INSERT INTO billing_profileversion (profile_id, number, body, body_sha256, status, effective_from,
               author_id, created_at, submitted_at, decided_at, decided_by_id, decision_note)
           SELECT p.id, n, '{}'::jsonb, repeat('0', 64),
                  CASE WHEN n = 30 THEN 'pending_approval' WHEN n = 29 THEN 'approved' ELSE 'superseded' END,
                  now() - (30 - n) * interval '10 days', %s, now() - (31 - n) * interval '10 days',
                  now() - (31 - n) * interval '10 days',
                  CASE WHEN n = 30 THEN NULL ELSE now() - (30 - n) * interval '10 days' END,
                  CASE WHEN n = 30 THEN NULL ELSE %s END, ''
           FROM billing_billingprofile p, generate_series(1, 30) AS n""",
        [author.pk, customer.pk],
    )
    version_id = run_sql_scalar("SELECT max(id) FROM billing_profileversion WHERE status = 'approved'")
    t = step("price-list versions", t)
    this_month = month_back(today, 0)
    for back in range(1, 13):
        start = month_back(today, back)
        end = month_back(today, back - 1)
        last_day = end - timedelta(days=1)
        recent = back <= 2
        run_sql(
            """INSERT INTO ledger_invoice (tenant_id, number, status, blocked_reason, period_key, period_start,
                   period_end, currency, subtotal, tax_jurisdiction, tax_mode, tax_exact, tax_total, total,
                   credits_applied, amount_due, base_currency, fx_rate, fx_source, created_at, finalized_at,
                   paid_at, void_reason, pdf_version, pdf_rendered_version, pdf_file, pdf_sha256, xml_file,
                   xml_sha256, period_first_day, period_last_day, issue_date, due_date, payment_terms_days,
                   seller_vat_id, buyer_vat_id, buyer_country, reverse_charge, tax_note, rounding_amount)
               SELECT t.id, %s || '-' || t.id, %s, '', %s, %s, %s, t.currency, s.subtotal, 'DE', 'exclusive',
                   s.subtotal * 0.19, round(s.subtotal * 0.19, 2), s.subtotal + round(s.subtotal * 0.19, 2), 0,
                   s.subtotal + round(s.subtotal * 0.19, 2), 'EUR',
                   CASE t.currency WHEN 'EUR' THEN 1 WHEN 'USD' THEN 0.925926 ELSE 1.176471 END, 'bench',
                   %s, %s, %s, '', 0, 0, '', '', '', '', %s, %s, %s,
                   CASE WHEN %s AND t.id %% 10 = 0 THEN %s::date ELSE %s::date END, 30,
                   '', '', 'DE', false, '', 0
               FROM tenants_tenant t,
                    LATERAL (SELECT round((20 + (t.id * 7919 %% 5000) / 3.7 + %s * 3)::numeric, 2) AS subtotal) s""",
            [
                f"INV-{start:%Y%m}",
                "finalized" if recent else "paid",
                f"{start:%Y-%m}",
                datetime(start.year, start.month, 1, tzinfo=UTC),
                datetime(end.year, end.month, 1, tzinfo=UTC),
                datetime(end.year, end.month, 3, tzinfo=UTC),
                datetime(end.year, end.month, 3, tzinfo=UTC),
                None if recent else datetime(end.year, end.month, 20, tzinfo=UTC),
                start,
                last_day,
                end + timedelta(days=2),
                recent,
                end + timedelta(days=2),  # overdue: due on issue
                end + timedelta(days=32),
                back,
            ],
        )
    run_sql(
        """INSERT INTO ledger_dispute (tenant_id, invoice_id, reason, message, attachment, attachment_name,
               attachment_type, status, outcome, opened_by_id, created_at)
           SELECT tenant_id, id, 'other', 'bench', '', '', '', 'open', '', %s, now()
           FROM ledger_invoice WHERE id %% 100 = 0""",
        [customer.pk],
    )
    t = step("12 closed months of invoices, 1 % disputed", t)
    for back in range(0, 13):
        start = month_back(today, back)
        end = month_back(today, back - 1) if back else month_back(this_month, -1)
        run_sql(
            """INSERT INTO billing_tenantusageestimate (tenant_id, period_key, period_start, period_end, sku_id,
                   quantity, event_count, amount, currency, updated_at)
               SELECT t.id, %s, %s, %s, s.sku, 1000, 100, round((10 + (t.id * 31 + s.sku) %% 2000 / 3.0)::numeric, 6),
                      t.currency, now()
               FROM tenants_tenant t, LATERAL (SELECT unnest(ARRAY[%s, %s]) AS sku) s""",
            [
                f"{start:%Y-%m}",
                datetime(start.year, start.month, 1, tzinfo=UTC),
                datetime(end.year, end.month, 1, tzinfo=UTC),
                sku_ids[0],
                sku_ids[1 + (back % 3)],
            ],
        )
    t = step("running estimates (this period and 12 closed)", t)
    period_start = datetime(this_month.year, this_month.month, 1, tzinfo=UTC)
    hours = int((now - period_start).total_seconds() // 3600) + 1
    rows = run_sql(
        """INSERT INTO billing_usageaggregate (tenant_id, sku_id, profile_version_id, hour, quantity, event_count,
               first_event_at, last_event_at, updated_at)
           SELECT t.id, s.sku, %s, %s + h * interval '1 hour', 50, 1 + (t.id + h) %% 40,
                  %s + h * interval '1 hour', %s + h * interval '1 hour' + interval '59 minutes', now()
           FROM tenants_tenant t CROSS JOIN generate_series(0, %s - 1) AS h
                CROSS JOIN LATERAL (SELECT unnest(ARRAY[%s, %s]) AS sku) s
           WHERE t.id %% 5 = 0 OR (t.id + h) %% 6 = 0""",
        [version_id, period_start, period_start, period_start, hours, sku_ids[0], sku_ids[1]],
    )
    t = step(f"{rows:,} hourly aggregates ({hours} hours)", t)
    batch_start = now - timedelta(days=BATCH_DAYS)
    rows = run_sql(
        """INSERT INTO billing_ratingbatch (first_event_id, last_event_id, event_count, tenant_ids, tenant_id,
               earliest_event_at, latest_event_at, source, status, created_at, rated_at, failed_at, failure_reason)
           SELECT 1, 1, 20, jsonb_build_array(t.id), t.id, at, at, 'ingest',
                  CASE WHEN at > now() - interval '20 seconds' THEN 'pending' ELSE 'rated' END, at,
                  CASE WHEN at > now() - interval '20 seconds' THEN NULL
                       ELSE at + ((t.id * 13 + h) %% 120) * interval '1 second' END, NULL, ''
           FROM generate_series(0, %s - 1) AS h
                CROSS JOIN tenants_tenant t
                CROSS JOIN LATERAL (SELECT date_trunc('hour', %s::timestamptz) + h * interval '1 hour'
                                           + (t.id %% 3600) * interval '1 second' AS at) a
           WHERE (t.id %% 5 = 0 OR (t.id + h) %% 6 = 0) AND at <= now()
           ORDER BY at""",
        [BATCH_DAYS * 24 + 1, batch_start],
    )
    t = step(f"{rows:,} rating batches ({BATCH_DAYS} days)", t)
    ok = ",".join(
        json.dumps({"event_id": f"e{i}", "status": "accepted"}, separators=(",", ":")) for i in range(19)
    )
    rejected = '{"event_id":"bad","status":"rejected","reason":"invalid_quantity","message":"not a number"}'
    rows = run_sql(
        """INSERT INTO billing_ingestrequest (scope, key, tenant_id, request_sha256, response_status,
               response_body, created_at)
           SELECT 'tenant:' || tenant_id, 'k-' || id, tenant_id, repeat('0', 64), 200,
                  '{"results":[' || %s || ',' ||
                  CASE WHEN id %% 100 = 0 THEN %s ELSE '{"event_id":"e19","status":"accepted"}' END
                  || '],"counts":' ||
                  CASE WHEN id %% 100 = 0 THEN '{"accepted":19,"rejected":1}' ELSE '{"accepted":20}' END
                  || '}', created_at
           FROM billing_ratingbatch WHERE created_at >= now() - interval '72 hours'""",
        [ok, rejected],
    )
    t = step(f"{rows:,} ingest requests (72 h)", t)
    run_sql(
        """INSERT INTO billing_usageevent (tenant_slug, event_id, sku_code, project_code, timestamp, quantity, tags,
               payload_sha256, status, quarantine_reason, received_at, late)
           SELECT 'nobody-' || (i %% 50), 'q-' || i, 'api_calls', '', at, 1, '{}'::jsonb, repeat('0', 64),
                  'quarantined', (ARRAY['unknown_tenant', 'unknown_sku', 'missing_required_tag: project'])[1 + i %% 3],
                  at, false
           FROM generate_series(1, 55000) AS i,
                LATERAL (SELECT now() - CASE WHEN i <= 5000 THEN i * interval '17 seconds'
                                             ELSE interval '2 days' + i * interval '1 minute' END AS at) a"""
    )
    t = step("55,000 quarantined events", t)
    run_sql(
        """INSERT INTO ledger_alert (kind, state, severity, signature, key, group_key, tenant_id, message, details,
               created_at, last_seen_at, occurrences, resolved_at)
           SELECT (ARRAY['budget', 'anomaly', 'pipeline_lag', 'commitment'])[1 + i %% 4],
                  CASE WHEN i <= 200 THEN 'firing' ELSE 'resolved' END,
                  CASE WHEN i %% 10 = 0 THEN 'critical' ELSE 'warning' END,
                  encode(sha256(('alert-' || i)::bytea), 'hex'), 'key-' || i, 'bench:' || (i %% 100),
                  1 + i %% %s, 'bench alert ' || i, '{}'::jsonb, now() - i * interval '5 minutes',
                  now(), 1, CASE WHEN i <= 200 THEN NULL ELSE now() - i * interval '4 minutes' END
           FROM generate_series(1, 5200) AS i""",
        [TENANTS],
    )
    t = step("5,200 alerts", t)
    run_sql("SET session_replication_role = DEFAULT")
    run_sql("ANALYZE")
    step("analyze", t)


def run_sql_scalar(sql: str) -> Any:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql)
        row = cursor.fetchone()
    return row[0] if row else None


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[k]


def client_process(index: int, max_age: int, out: Any) -> None:
    os.environ["DASHBOARD_MAX_AGE_SECONDS"] = str(max_age)
    django_setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    settings.DASHBOARD_MAX_AGE_SECONDS = max_age
    client = Client()
    client.force_login(get_user_model().objects.get(username=VIEWER))
    errors: list[str] = []
    timings: dict[str, list[float]] = {name: [] for name in PAGES}

    def fetch(url: str) -> float:
        started = time.perf_counter()
        response = client.get(url)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            errors.append(f"{url}: {response.status_code}")
        return elapsed

    for url in PAGES.values():  # warm-up (templates, code paths, connections), not timed
        fetch(url)
    for _ in range(REQUESTS):
        for name, url in PAGES.items():
            timings[name].append(fetch(url))
    out.put({"timings": timings, "errors": errors})


def refresher_process(stop: Any, out: Any) -> None:
    """The beat's `billing.dashboards_refresh`, every DASHBOARD_REFRESH_SECONDS, until stopped."""
    django_setup()
    from billing.observability.dashboards_kept import dashboards_refresh, refresh_seconds

    durations: list[float] = []
    while True:
        started = time.perf_counter()
        done = dashboards_refresh()
        durations.append(time.perf_counter() - started)
        if set(done.values()) != {"ok"}:
            out.put({"durations": durations, "failed": done})
            return
        if stop.wait(max(0.0, refresh_seconds() - durations[-1])):
            break
    out.put({"durations": durations, "failed": {}})


def measure(label: str, max_age: int, *, refresher: bool = False) -> bool:
    from django.core.cache import cache
    from django.db import connection

    cache.clear()
    connection.close()
    spawn = mp.get_context("spawn")
    out: Any = spawn.Queue()
    refreshed: Any = spawn.Queue()
    stop = spawn.Event()
    helper = spawn.Process(target=refresher_process, args=(stop, refreshed)) if refresher else None
    if helper is not None:
        helper.start()
        time.sleep(1)  # its first refresh runs alongside the clients' warm-up
    procs = [spawn.Process(target=client_process, args=(i, max_age, out)) for i in range(CLIENTS)]
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    met = True
    print(f"{label} ({CLIENTS} clients x {REQUESTS} requests per page):")
    for name in PAGES:
        values = [v for r in results for v in r["timings"][name]]
        p95 = percentile(values, 0.95)
        met = met and p95 < GOAL_MS
        print(
            f"  {name:10s} p50 {percentile(values, 0.5):6.1f}  p95 {p95:6.1f}  p99 {percentile(values, 0.99):6.1f}"
            f"  max {max(values):6.1f} ms; p95 {p95 / GOAL_MS:.2f}x the goal ({GOAL_MS:.0f} ms)"
        )
    errors = [e for r in results for e in r["errors"]]
    if helper is not None:
        stop.set()
        report = refreshed.get()
        helper.join()
        runs = report["durations"]
        print(
            f"  refresh (all three dashboards, in the background): {len(runs)} runs, "
            f"{min(runs):.2f}-{max(runs):.2f} s each"
        )
        if report["failed"]:
            errors.append(f"refresh failed: {report['failed']}")
    if errors:
        print(f"  errors: {errors[:5]}")
    return met and not errors


def main() -> int:
    print(f"load average before: {os.getloadavg()}")
    if not REUSE:
        started = time.perf_counter()
        fresh_database()
        django_setup()
        seed()
        print(f"seeded in {time.perf_counter() - started:.0f} s")
    else:
        django_setup()
    computed = measure("computed on every request (DASHBOARD_MAX_AGE_SECONDS=0)", 0)
    served = measure("served as in production (refreshed every 20 s by the beat task)", 60, refresher=True)
    print(f"load average after: {os.getloadavg()}")
    print(json.dumps({"goal_ms": GOAL_MS, "computed_met": computed, "served_met": served}))
    return 0 if served else 1


if __name__ == "__main__":
    raise SystemExit(main())
