"""Alert evaluation at scale: one spend-anomaly run and one budget run over 10,000 active tenants.

Seeding (bulk SQL on a fresh database, database triggers off for the seeding session only; printed, not
timed): BENCH_TENANTS tenants (time zones UTC, Europe/Berlin, Asia/Tokyo) on one EUR profile (3 per-unit
SKUs, a minimum spend of 20,000.00), each with 3 SKUs of hourly usage aggregates over the 29 days before
NOW and the running hour (20.9 M rows): a per-series level, a daily cycle of 20-60 % in the tenant's local
time, quieter weekends, +-10 % noise (seeded, so every seeding is the same). Every 33rd tenant has a spike
of 3x-5x in one SKU in the latest complete hour (a few hundred, labelled), with usage events of that hour
and of the same hour a day earlier (project `ml` carries the increase). The running estimates of the
current period are summed from the aggregates; a third of the tenants have a budget (0.6x-1.5x of their
projected spend).

Timed: `anomalies_evaluate(now=NOW)` (as the beat task runs it: every tenant with usage rated in the last
two hours) and `budgets_evaluate(now=NOW)`, each once, with their SQL statement counts. Checked: recall
and precision of the anomaly run on the injected spikes (an open `<sku>:hourly` alert of that tenant and
SKU), and that the alerts name the project that carries the spike.

Goal: an anomaly run < 300 s for 10,000 active tenants (half its 10-minute interval, so an anomaly alerts
well within 1 hour of the ingest). Environment: BENCH_PG, BENCH_TENANTS (10000), BENCH_MONITORING_DB
(billing_monitoring_bench), BENCH_MONITORING_REUSE=1 (measure an already seeded database again: the
alerts of earlier runs are deleted first), BENCH_MONITORING_PROFILE=1 (print a cProfile of the anomaly
run)."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import benchdb

ROOT = Path(__file__).resolve().parent.parent
PG = os.environ.get("BENCH_PG", "postgres://root@127.0.0.1:5432")
DB_NAME = os.environ.get("BENCH_MONITORING_DB", "billing_monitoring_bench")
TENANTS = int(os.environ.get("BENCH_TENANTS", "10000"))
REUSE = os.environ.get("BENCH_MONITORING_REUSE") == "1"
PROFILE = os.environ.get("BENCH_MONITORING_PROFILE") == "1"
GOAL_SECONDS = 300.0
NOW = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)
CURRENT_HOUR = NOW.replace(minute=0)
SPIKE_HOUR = CURRENT_HOUR - timedelta(hours=1)
HISTORY_DAYS = 29
SPIKE_EVERY = 33  # every 33rd tenant has one spiked SKU
SKUS = (("api_calls", "0.002"), ("compute_hours", "0.01"), ("storage_gb", "0.005"))
ENV = {
    "DATABASE_URL": f"{PG}/{DB_NAME}",
    "REDIS_URL": os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/14"),
    "DJANGO_SETTINGS_MODULE": "config.settings.base",
    "DEBUG": "0",
    "LOG_LEVEL": "CRITICAL",  # every fired alert logs an error: thousands of lines
    "CELERY_TASK_ALWAYS_EAGER": "1",
    "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
}


def fresh_database() -> None:
    benchdb.fresh_database(server=PG, name=DB_NAME, env=ENV)


def django_setup() -> None:
    benchdb.django_setup(ENV)


def run_sql(sql: str, params: list[Any] | None = None) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return int(cursor.rowcount)


def run_sql_scalar(sql: str, params: list[Any] | None = None) -> Any:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        row = cursor.fetchone()
    return row[0] if row else None


def step(label: str, started: float) -> float:
    now = time.perf_counter()
    print(f"  {label}: {now - started:.1f} s", flush=True)
    return now


def seed() -> None:
    from django.contrib.auth import get_user_model

    from billing.catalog.models import Meter, Sku
    from billing.governance.versions import profile_version_approve, profile_version_submit
    from billing.profiles.models import BillingProfile
    from billing.profiles.services import profile_version_create
    from tenants.models import Role
    from tenants.services import membership_grant

    t = time.perf_counter()
    users = get_user_model()
    author = users.objects.create(username="mon-bench-author")
    approver = users.objects.create(username="mon-bench-approver")
    membership_grant(user=author, role=Role.FINANCE_EDITOR)
    membership_grant(user=approver, role=Role.FINANCE_APPROVER)
    sku_ids = []
    for code, _price in SKUS:
        meter = Meter.objects.create(code=f"m-{code}", name=code, unit="unit")
        sku_ids.append(Sku.objects.create(code=code, name=code, meter=meter, unit_label="unit").pk)
    profile = BillingProfile.objects.create(code="mon-bench", name="Monitoring bench")
    body = {
        "profile": profile.code,
        "currency": "EUR",
        "billing_cycle": "monthly",
        "grace_hours": 72,
        "tax": {"mode": "exclusive"},
        "prices": [{"sku": code, "model": "per_unit", "unit_amount": price} for code, price in SKUS],
        "commitments": {"minimum_spend": "20000.00"},
    }
    draft = profile_version_create(
        profile=profile, body=body, effective_from=datetime(2026, 1, 1, tzinfo=UTC), author=author
    )
    version = profile_version_approve(
        version=profile_version_submit(version=draft, actor=author), approver=approver, allow_backdated=True
    )
    run_sql("SET session_replication_role = replica")  # the seeding session only: triggers off
    run_sql("SELECT setseed(0.4242)")  # the same noise on every seeding
    run_sql(
        """INSERT INTO tenants_tenant (slug, name, status, country, tax_jurisdiction, currency, timezone, locale,
               address, vat_id, created_at)
           SELECT 'mon-' || lpad(i::text, 5, '0'), 'Monitoring tenant ' || i, 'active', 'DE', 'DE', 'EUR',
                  (ARRAY['UTC', 'Europe/Berlin', 'Asia/Tokyo'])[1 + i %% 3], 'en', '', '', now()
           FROM generate_series(1, %s) AS i""",
        [TENANTS],
    )
    run_sql(
        """INSERT INTO billing_profileassignment (tenant_id, profile_id, effective_from, created_at)
           SELECT id, %s, '2026-01-01T00:00:00Z', now() FROM tenants_tenant""",
        [profile.pk],
    )
    t = step(f"{TENANTS:,} tenants on one profile", t)
    first_hour = CURRENT_HOUR - timedelta(days=HISTORY_DAYS)
    hours = HISTORY_DAYS * 24 + 1  # through the running hour
    # quantity = level x daily cycle (local time) x weekend dip x noise; the running hour is half done;
    # the spiked series are 3x-5x in SPIKE_HOUR.
    rows = run_sql(
        """INSERT INTO billing_usageaggregate (tenant_id, sku_id, profile_version_id, hour, quantity, event_count,
               first_event_at, last_event_at, updated_at)
           SELECT t.id, s.sku_id, %s, at,
                  round((lvl.level
                         * (1 + lvl.amp * sin(2 * pi() * (extract(hour FROM at AT TIME ZONE t.timezone) - 8) / 24))
                         * CASE WHEN extract(isodow FROM at AT TIME ZONE t.timezone) >= 6 THEN 0.7 ELSE 1 END
                         * (0.9 + 0.2 * random())
                         * CASE WHEN at = %s THEN 0.5 ELSE 1 END
                         * CASE WHEN at = %s AND t.id %% %s = 0 AND s.n = t.id %% 3 THEN 3 + (t.id / %s) %% 3
                                ELSE 1 END)::numeric, 4),
                  10, at, at + interval '59 minutes', at + interval '1 hour'
           FROM tenants_tenant t
                CROSS JOIN (SELECT sku_id, n - 1 AS n FROM unnest(%s::bigint[]) WITH ORDINALITY AS u(sku_id, n)) s
                CROSS JOIN LATERAL (SELECT 500 + (t.id * 7919 + s.n * 104729) %% 4500 AS level,
                                           0.2 + ((t.id + s.n) %% 5) * 0.1 AS amp) lvl
                CROSS JOIN generate_series(0, %s - 1) AS h
                CROSS JOIN LATERAL (SELECT %s::timestamptz + h * interval '1 hour' AS at) a""",
        [version.pk, CURRENT_HOUR, SPIKE_HOUR, SPIKE_EVERY, SPIKE_EVERY, sku_ids, hours, first_hour],
    )
    t = step(f"{rows:,} hourly aggregates ({hours} hours x {len(SKUS)} SKUs per tenant)", t)
    # The spiked hours' events and the same hour a day earlier (the breakdown reads them): project `web`
    # carries the usual level, `ml` the increase; one rated batch holds them all.
    batch_id = run_sql_scalar(
        """INSERT INTO billing_ratingbatch (first_event_id, last_event_id, event_count, tenant_ids, tenant_id,
               earliest_event_at, latest_event_at, source, status, created_at, rated_at, failed_at, failure_reason)
           VALUES (1, 1, 1, '[]'::jsonb, NULL, %s, %s, 'ingest', 'rated', %s, %s, NULL, '') RETURNING id""",
        [SPIKE_HOUR, SPIKE_HOUR, SPIKE_HOUR, SPIKE_HOUR],
    )
    rows = run_sql(
        """INSERT INTO billing_usageevent (tenant_id, tenant_slug, event_id, sku_id, sku_code, project_code,
               timestamp, quantity, tags, payload_sha256, status, quarantine_reason, received_at, late,
               rating_batch_id)
           SELECT a.tenant_id, t.slug, 'ev-' || a.id || '-' || k || p.code, a.sku_id, s.code, p.code,
                  a.hour + k * interval '10 minutes', round(p.quantity / 4, 4),
                  jsonb_build_object('region', CASE WHEN p.code = 'ml' THEN 'us-east-1' ELSE 'eu-west-1' END),
                  repeat('0', 64), 'accepted', '', a.hour + k * interval '10 minutes', false, %s
           FROM billing_usageaggregate a
                JOIN tenants_tenant t ON t.id = a.tenant_id
                JOIN billing_sku s ON s.id = a.sku_id
                JOIN billing_usageaggregate b ON b.tenant_id = a.tenant_id AND b.sku_id = a.sku_id
                                             AND b.hour = %s - interval '1 day'
                CROSS JOIN LATERAL (VALUES ('web', LEAST(a.quantity, b.quantity)),
                                           ('ml', GREATEST(a.quantity - b.quantity, 0))) p(code, quantity)
                CROSS JOIN generate_series(0, 3) AS k
           WHERE a.tenant_id %% %s = 0
             AND (a.hour = %s OR a.hour = %s)
             AND a.sku_id = (%s::bigint[])[1 + a.tenant_id %% 3]
             AND p.quantity > 0""",
        [batch_id, SPIKE_HOUR, SPIKE_EVERY, SPIKE_HOUR, SPIKE_HOUR - timedelta(days=1), sku_ids],
    )
    t = step(f"{rows:,} usage events of the spiked hours and their reference hours", t)
    prices = [price for _code, price in SKUS]
    rows = run_sql(
        """INSERT INTO billing_tenantusageestimate (tenant_id, period_key, period_start, period_end, sku_id,
               quantity, event_count, amount, currency, updated_at)
           SELECT a.tenant_id, '2026-11', p.start_at, p.end_at, a.sku_id, SUM(a.quantity), SUM(a.event_count),
                  SUM(a.quantity) * (%s::numeric[])[array_position(%s::bigint[], a.sku_id)], 'EUR',
                  %s::timestamptz - interval '20 minutes'
           FROM billing_usageaggregate a
                JOIN tenants_tenant t ON t.id = a.tenant_id
                CROSS JOIN LATERAL (SELECT '2026-11-01'::timestamp AT TIME ZONE t.timezone AS start_at,
                                           '2026-12-01'::timestamp AT TIME ZONE t.timezone AS end_at) p
           WHERE a.hour >= p.start_at AND a.hour < p.end_at
           GROUP BY a.tenant_id, a.sku_id, p.start_at, p.end_at""",
        [prices, sku_ids, NOW],
    )
    t = step(f"{rows:,} running estimates of the current period", t)
    # A third of the tenants set a budget of 0.6x-1.5x their projected spend (the period elapsed at NOW).
    rows = run_sql(
        """INSERT INTO billing_tenantbudget (tenant_id, amount, thresholds_pct, thresholds_money,
               plan_multiplier, updated_at)
           SELECT e.tenant_id,
                  round(SUM(e.amount) / (extract(epoch FROM %s::timestamptz - min(e.period_start))
                                         / extract(epoch FROM min(e.period_end) - min(e.period_start)))
                        * (0.6 + (e.tenant_id %% 10) * 0.1), 2),
                  '[80, 100]'::jsonb, '[]'::jsonb, 2, %s
           FROM billing_tenantusageestimate e
           WHERE e.tenant_id %% 3 = 0
           GROUP BY e.tenant_id""",
        [NOW, NOW],
    )
    t = step(f"{rows:,} budgets", t)
    run_sql("SET session_replication_role = DEFAULT")
    run_sql("ANALYZE")
    step("analyze", t)


def spiked() -> set[tuple[int, str]]:
    """The injected spikes: (tenant id, SKU code)."""
    from tenants.models import Tenant

    codes = [code for code, _price in SKUS]
    return {
        (tid, codes[tid % 3]) for tid in Tenant.objects.values_list("pk", flat=True) if tid % SPIKE_EVERY == 0
    }


def main() -> int:
    print(f"monitoring: load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    started = time.perf_counter()
    if not REUSE:
        fresh_database()
    django_setup()
    from django.db import connection

    from billing.monitoring.anomalies import anomalies_evaluate
    from billing.monitoring.budgets import budgets_evaluate
    from ledger.models import Alert

    if not REUSE:
        seed()
        print(f"monitoring: seeded in {time.perf_counter() - started:.0f} s", flush=True)

    Alert.objects.filter(kind__in=["anomaly", "budget", "commitment"]).delete()  # earlier runs (reuse)
    statements = [0]

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        statements[0] += 1
        return execute(sql, params, many, context)

    profiler = None
    if PROFILE:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    load = os.getloadavg()[0]
    started, cpu_started = time.perf_counter(), time.process_time()
    with connection.execute_wrapper(count):
        anomalies = anomalies_evaluate(now=NOW)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    anomaly_statements = statements[0]
    if profiler is not None:
        import pstats

        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
    firing = list(
        Alert.objects.filter(kind="anomaly")
        .exclude(state="resolved")
        .values_list("tenant_id", "key", "details")
    )
    planted = spiked()
    hourly = {(tid, key.split(":")[0]) for tid, key, _d in firing if key.endswith(":hourly")}
    found = hourly & planted
    recall = len(found) / len(planted) if planted else 0.0
    precision = len(found) / len(hourly) if hourly else 0.0
    named = sum(
        1
        for tid, key, details in firing
        if key.endswith(":hourly")
        and (tid, key.split(":")[0]) in planted
        and [p["project"] for p in details["projects"]][:1] == ["ml"]
    )
    print(
        f"monitoring: anomalies_evaluate: {anomalies.evaluated:,} tenants in {seconds:.1f} s ({cpu:.1f} s of CPU "
        f"in this process, {anomaly_statements:,} SQL statements), load average {load:.2f} at the start; "
        f"{anomalies.firing} firing ({len(hourly)} hourly, {anomalies.firing - len(hourly)} daily), "
        f"{anomalies.failed} failed",
        flush=True,
    )
    print(
        f"monitoring: injected spikes {len(planted)}, found {len(found)}: recall {recall:.3f}, precision "
        f"{precision:.3f}; {named} of them name project ml first"
    )
    ratio = seconds / (GOAL_SECONDS * max(anomalies.evaluated, 1) / 10_000)
    verdict = "MET" if ratio <= 1 else "NOT met"
    print(f"monitoring: anomalies {ratio:.2f}x the goal (< 300 s for 10,000 active tenants): {verdict}")
    statements[0] = 0
    load = os.getloadavg()[0]
    started, cpu_started = time.perf_counter(), time.process_time()
    with connection.execute_wrapper(count):
        budgets = budgets_evaluate(now=NOW)
    b_seconds, b_cpu = time.perf_counter() - started, time.process_time() - cpu_started
    kinds = {
        k: Alert.objects.filter(kind=k).exclude(state="resolved").count() for k in ("budget", "commitment")
    }
    print(
        f"monitoring: budgets_evaluate: {budgets.evaluated:,} tenants in {b_seconds:.1f} s ({b_cpu:.1f} s of CPU, "
        f"{statements[0]:,} SQL statements), load average {load:.2f} at the start; {budgets.fired} thresholds "
        f"crossed ({kinds['budget']} budget alerts, {kinds['commitment']} commitment), {budgets.failed} failed"
    )
    print(f"monitoring: load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    ok = (
        anomalies.failed == 0
        and budgets.failed == 0
        and recall >= 0.9
        and precision >= 0.9
        and anomalies.evaluated == TENANTS
    )
    return 0 if ok and ratio <= 1 else 1


if __name__ == "__main__":
    raise SystemExit(main())
