"""Ingest throughput: gunicorn on 127.0.0.1 + a multi-process load client posting batches of 1,000 events
(realistic tags, ~5% resent duplicates) to POST /api/v1/usage, against a fresh PostgreSQL database.
Baseline: a raw psycopg COPY of the same rows into the same table, measured in the same run.

Environment: BENCH_PG (server URL without database, default postgres://root@127.0.0.1:5432),
BENCH_REDIS (default redis://127.0.0.1:6379/1), BENCH_PORT (8011), BENCH_WORKERS (gunicorn, 4),
BENCH_CLIENTS (load processes, 4), BENCH_BATCHES (total batches, 240)."""

from __future__ import annotations

import http.client
import json
import multiprocessing as mp
import os
import random
import signal
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PG = os.environ.get("BENCH_PG", "postgres://root@127.0.0.1:5432")
DB_NAME = os.environ.get("BENCH_DB", "billing_bench")
DATABASE_URL = f"{PG}/{DB_NAME}"
REDIS_URL = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/1")
PORT = int(os.environ.get("BENCH_PORT", "8011"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "4"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "4"))
BATCHES = int(os.environ.get("BENCH_BATCHES", "240"))
BATCH = 1000
TENANTS = 4
SKUS = [("api_calls", "sum", ""), ("egress_gb", "sum", ""), ("active_users", "unique_count", "user")]
REGIONS = ["eu-west-1", "eu-central-1", "us-east-1", "ap-south-1"]


def bench_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=DATABASE_URL,
        REDIS_URL=REDIS_URL,
        DJANGO_SETTINGS_MODULE="config.settings.base",
        DEBUG="0",
        LOG_LEVEL="WARNING",
        USAGE_RATE_LIMIT_REQUESTS="0",
        PYTHONPATH=str(ROOT),
    )
    env.update(extra)
    return env


def fresh_database() -> None:
    """Drop and recreate the bench database, then migrate it."""
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=bench_env(),
        check=True,
    )


def django_setup() -> None:
    os.environ.update(bench_env())
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def seed(*, tenants: int = TENANTS) -> dict[str, Any]:
    """Tenants on one profile pricing three SKUs (backdating 70 days), each with an API key."""
    from django.contrib.auth import get_user_model

    from billing.catalog.models import Meter, Sku
    from billing.governance.versions import profile_version_approve, profile_version_submit
    from billing.profiles.models import BillingProfile, ProfileAssignment
    from billing.profiles.services import profile_version_create
    from tenants.models import Role, Tenant
    from tenants.services import api_key_create, membership_grant

    user_model = get_user_model()
    author = user_model.objects.create(username="bench-author")
    approver = user_model.objects.create(username="bench-approver")
    membership_grant(user=author, role=Role.FINANCE_EDITOR)
    membership_grant(user=approver, role=Role.FINANCE_APPROVER)
    for code, aggregation, tag in SKUS:
        meter = Meter.objects.create(
            code=code, name=code, unit="unit", aggregation=aggregation, unique_tag=tag
        )
        Sku.objects.create(code=code, name=code, meter=meter, unit_label="unit")
    body = {
        "profile": "bench",
        "currency": "EUR",
        "billing_cycle": "monthly",
        "grace_hours": 72,
        "backdating_days": 70,
        "tax": {"mode": "exclusive"},
        "prices": [
            {
                "sku": "api_calls",
                "model": "graduated",
                "tiers": [
                    {"up_to": "100000", "unit_amount": "0.0001"},
                    {"up_to": None, "unit_amount": "0.00005"},
                ],
            },
            {"sku": "egress_gb", "model": "package", "package_size": "100", "package_amount": "5.00"},
            {"sku": "active_users", "model": "per_unit", "unit_amount": "0.50"},
        ],
    }
    profile = BillingProfile.objects.create(code="bench", name="Bench")
    epoch = datetime(2026, 1, 1, tzinfo=UTC)
    # through the workflow: the database takes a version only as a draft, approved by a finance approver
    draft = profile_version_create(profile=profile, body=body, effective_from=epoch, author=author)
    profile_version_approve(
        version=profile_version_submit(version=draft, actor=author), approver=approver, allow_backdated=True
    )
    secrets: list[str] = []
    for i in range(tenants):
        tenant = Tenant.objects.create(
            slug=f"bench-{i}", name=f"Bench {i}", country="DE", tax_jurisdiction="DE", currency="EUR"
        )
        ProfileAssignment.objects.create(tenant=tenant, profile=profile, effective_from=epoch)
        secrets.append(api_key_create(tenant=tenant, name="bench").secret)
    return {"secrets": secrets}


def make_events(rng: random.Random, n: int, *, prefix: str, now: datetime) -> list[dict[str, Any]]:
    events = []
    for i in range(n):
        sku, _, _ = SKUS[rng.randrange(len(SKUS))]
        at = now - timedelta(seconds=rng.randint(60, 20 * 86400))
        tags: dict[str, Any] = {
            "region": REGIONS[rng.randrange(4)],
            "cost_center": f"CC-{rng.randint(1, 40):03d}",
            "project": f"proj-{rng.randint(1, 25)}",
        }
        if sku == "active_users":
            tags["user"] = f"u-{rng.randint(1, 50000)}"
        quantity = str(rng.randint(1, 5000)) if sku == "api_calls" else f"{rng.randint(1, 100000) / 1000:.3f}"
        events.append(
            {
                "event_id": f"{prefix}-{i}",
                "sku": sku,
                "timestamp": at.isoformat().replace("+00:00", "Z"),
                "quantity": quantity,
                "tags": tags,
            }
        )
    return events


def client_process(index: int, secret: str, batches: int, out: Any, start_at: float) -> None:
    rng = random.Random(index)
    now = datetime.now(UTC)
    bodies = []
    sent: list[dict[str, Any]] = []
    for b in range(batches):
        fresh = make_events(rng, BATCH, prefix=f"c{index}-b{b}-{uuid.uuid4().hex[:6]}", now=now)
        if sent:  # ~5% resent duplicates of earlier events
            fresh[: BATCH // 20] = rng.sample(sent, k=min(len(sent), BATCH // 20))
        sent.extend(fresh[BATCH // 20 :][:200])
        bodies.append(json.dumps({"events": fresh}).encode())
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {secret}"}
    while time.time() < start_at:
        time.sleep(0.001)
    latencies, accepted, duplicate, other = [], 0, 0, 0
    for body in bodies:
        t0 = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=120)
        conn.request("POST", "/api/v1/usage", body=body, headers=headers)
        response = conn.getresponse()
        payload = response.read()
        conn.close()
        latencies.append(time.perf_counter() - t0)
        if response.status != 200:
            other += BATCH
            continue
        counts = json.loads(payload)["counts"]
        accepted += counts.get("accepted", 0)
        duplicate += counts.get("duplicate", 0)
        other += BATCH - counts.get("accepted", 0) - counts.get("duplicate", 0)
    out.put(
        {
            "latencies": latencies,
            "accepted": accepted,
            "duplicate": duplicate,
            "other": other,
            "finished": time.time(),
        }
    )


def copy_baseline(rows: int) -> float:
    """events/s of a raw psycopg COPY of equivalent rows into billing_usageevent (one transaction, rolled
    back)."""
    import hashlib

    import psycopg

    rng = random.Random(99)
    now = datetime.now(UTC)
    with psycopg.connect(DATABASE_URL) as conn:
        tenant_id, sku_id = conn.execute(
            "SELECT t.id, s.id FROM tenants_tenant t, billing_sku s WHERE s.code = 'api_calls' LIMIT 1"
        ).fetchone()
        events = make_events(rng, rows, prefix=f"copy-{uuid.uuid4().hex[:6]}", now=now)
        prepared = [
            (
                tenant_id,
                "bench-0",
                e["event_id"],
                sku_id,
                e["sku"],
                None,
                "",
                e["timestamp"],
                e["quantity"],
                json.dumps(e["tags"]),
                hashlib.sha256(e["event_id"].encode()).hexdigest(),
                "accepted",
                "",
                False,
                now,
                0,  # rating_batch_id: the API path writes one batch row per request besides
            )
            for e in events
        ]
        started = time.perf_counter()
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY billing_usageevent (tenant_id, tenant_slug, event_id, sku_id, sku_code, project_id, "
                'project_code, "timestamp", quantity, tags, payload_sha256, status, quarantine_reason, late, '
                "received_at, rating_batch_id) FROM STDIN"
            ) as copy,
        ):
            for row in prepared:
                copy.write_row(row)
        elapsed = time.perf_counter() - started
        # baseline-only rows: rolled back so that rating benchmarks never see them (the database refuses
        # to delete usage events), which leaves the one commit's WAL flush out of the measurement
        conn.rollback()
    return rows / elapsed


def start_gunicorn(workers: int = WORKERS, **env: str) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "config.wsgi:application",
            "-b",
            f"127.0.0.1:{PORT}",
            "-w",
            str(workers),
            "--timeout",
            "120",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=bench_env(**env),
    )
    for _ in range(100):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=1)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("gunicorn did not start")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def main() -> int:
    fresh_database()
    django_setup()
    fixture = seed()
    from django.db import connection

    connection.close()  # the load clients are forked: they must not inherit a connection
    # The nudges go to Redis and wait there (no worker here): ingest is measured alone.
    # The SKIP-LOCKED rating is measured by bench_rating.py.
    server = start_gunicorn()
    try:
        per_client = BATCHES // CLIENTS
        out: Any = mp.Queue()
        start_at = time.time() + 3 + per_client * 0.02  # time to pre-build the bodies
        procs = [
            mp.Process(
                target=client_process,
                args=(i, fixture["secrets"][i % len(fixture["secrets"])], per_client, out, start_at),
            )
            for i in range(CLIENTS)
        ]
        for p in procs:
            p.start()
        results = [out.get() for _ in procs]
        for p in procs:
            p.join()
    finally:
        stop(server)
    elapsed = max(r["finished"] for r in results) - start_at
    latencies = [x for r in results for x in r["latencies"]]
    accepted = sum(r["accepted"] for r in results)
    duplicate = sum(r["duplicate"] for r in results)
    other = sum(r["other"] for r in results)
    baseline = copy_baseline(200_000)
    rate = accepted / elapsed
    handled = (accepted + duplicate) / elapsed
    print(
        f"ingest: {CLIENTS} client processes x {per_client} batches of {BATCH} events, gunicorn -w {WORKERS}"
    )
    print(f"  accepted {accepted} (+{duplicate} duplicates, {other} other) in {elapsed:.2f} s")
    print(f"  accepted events/s: {rate:,.0f}   (events answered/s incl. duplicates: {handled:,.0f})")
    print(
        f"  request latency p50 {percentile(latencies, 0.5) * 1000:.0f} ms, "
        f"p99 {percentile(latencies, 0.99) * 1000:.0f} ms, mean {statistics.mean(latencies) * 1000:.0f} ms"
    )
    print(f"  raw psycopg COPY of the same rows into the same table: {baseline:,.0f} events/s")
    print(f"  ratio API / raw COPY: {rate / baseline:.2f}")
    print(
        f"  {rate / 30_000:.2f}x the goal of 30,000 accepted events/s: {'met' if rate >= 30000 else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
