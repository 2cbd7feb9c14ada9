"""Rating throughput on 1M pending events, and event-to-cost latency under a steady 5,000 events/s.

1. Throughput: 1,000,000 pending events (3 SKUs incl. a unique_count meter, 8 tenants, 20 days) are
   COPYed into a fresh database with one pending RatingBatch per 1,000 events (as the ingest writes
   them), then rated by BENCH_RATERS processes side by side (FOR UPDATE SKIP LOCKED), batches of
   BENCH_RATING_BATCH. Reported: events/s (wall clock, all raters).
2. Latency: gunicorn + one Celery worker (solo pool, Redis broker) + a producer posting 500-event batches
   10 times a second (5,000 events/s) for BENCH_LATENCY_SECONDS. Event-to-cost latency per event is
   its batch's rated_at - received_at (rated_at is taken after the aggregate upsert; the running estimate
   is written and committed right after, within the same transaction).

Environment as bench_ingest.py, plus BENCH_EVENTS (1,000,000), BENCH_RATING_SPREAD_SECONDS (20 days),
BENCH_RATING_TENANT_BATCHES (0: every batch holds all tenants' events, as a platform key sends them),
BENCH_RATERS (2), BENCH_RATING_BATCH (100,000, the RATING_BATCH_SIZE default), BENCH_LATENCY_SECONDS
(20; 0 skips the latency run)."""

from __future__ import annotations

import http.client
import json
import multiprocessing as mp
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_ingest import (
    PORT,
    ROOT,
    bench_env,
    django_setup,
    fresh_database,
    make_events,
    percentile,
    seed,
    start_gunicorn,
    stop,
)

EVENTS = int(os.environ.get("BENCH_EVENTS", "1000000"))
# How far back the pending events' timestamps spread: 20 days (a backfill; most hour buckets touched by
# every batch) by default; BENCH_RATING_SPREAD_SECONDS=3600 models a backlog of recent usage.
SPREAD_SECONDS = int(os.environ.get("BENCH_RATING_SPREAD_SECONDS", str(20 * 86400)))
# Each 1,000-event batch holds every tenant's events (a platform key) by default; BENCH_RATING_TENANT_BATCHES=1
# makes each batch one tenant's (tenant API keys, the common case), which raters take tenant by tenant.
TENANT_BATCHES = os.environ.get("BENCH_RATING_TENANT_BATCHES", "0") == "1"
RATERS = int(os.environ.get("BENCH_RATERS", "2"))
RATING_BATCH = int(os.environ.get("BENCH_RATING_BATCH", "100000"))  # the RATING_BATCH_SIZE default
LATENCY_SECONDS = int(os.environ.get("BENCH_LATENCY_SECONDS", "20"))
RATE = 5000
LATENCY_BATCH = 500


def load_pending(n: int) -> float:
    """COPY n pending events straight into the usage table; returns the seconds it took."""
    import psycopg
    from django.conf import settings

    url = settings.DATABASES["default"]
    dsn = f"host={url['HOST']} port={url['PORT'] or 5432} dbname={url['NAME']} user={url['USER']}"
    rng = random.Random(1)
    now = datetime.now(UTC)
    started = time.perf_counter()
    with psycopg.connect(dsn) as conn:
        tenants = [r[0] for r in conn.execute("SELECT id FROM tenants_tenant ORDER BY id")]
        skus: dict[str, int] = dict(conn.execute("SELECT code, id FROM billing_sku"))
        first_id = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM billing_usageevent").fetchone()[0]
        first_batch = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM billing_ratingbatch").fetchone()[0]
        # As the ingest writes them: each 1,000-event request stores its events tenant by tenant (request
        # order within a tenant) and records one pending batch per tenant: [id, lo, hi, count, earliest,
        # latest, tenant].
        batches: list[list[Any]] = []
        next_id = first_id
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY billing_usageevent (id, tenant_id, tenant_slug, event_id, sku_id, sku_code, "
                'project_code, "timestamp", quantity, tags, payload_sha256, status, quarantine_reason, late, '
                "received_at, rating_batch_id) FROM STDIN"
            ) as copy,
        ):
            for start in range(0, n, 1000):
                request = []
                for i in range(start, min(n, start + 1000)):
                    code = ("api_calls", "egress_gb", "active_users")[i % 3]
                    tags = {"region": "eu-west-1"}
                    if code == "active_users":
                        tags["user"] = f"u-{rng.randint(1, 50000)}"
                    quantity = (
                        rng.randint(1, 5000)
                        if code == "api_calls"
                        else f"{rng.randint(1, 100000) / 1000:.3f}"
                    )
                    ts = now - timedelta(seconds=rng.randint(60, max(61, SPREAD_SECONDS)))
                    tenant = tenants[(i // 1000 if TENANT_BATCHES else i) % len(tenants)]
                    request.append((tenant, i, code, tags, quantity, ts))
                request.sort(key=lambda e: (e[0], e[1]))
                for tenant, i, code, tags, quantity, ts in request:
                    if not batches or batches[-1][6] != tenant or batches[-1][1] < first_id + start:
                        batches.append([first_batch + len(batches), next_id, next_id, 0, ts, ts, tenant])
                    batch = batches[-1]
                    batch[2], batch[3] = next_id, batch[3] + 1
                    batch[4], batch[5] = min(batch[4], ts), max(batch[5], ts)
                    copy.write_row(
                        (
                            next_id,
                            tenant,
                            "",
                            f"r-{i}",
                            skus[code],
                            code,
                            "",
                            ts,
                            quantity,
                            json.dumps(tags),
                            "0" * 64,
                            "accepted",
                            "",
                            False,
                            now,
                            batch[0],
                        )
                    )
                    next_id += 1
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY billing_ratingbatch (id, first_event_id, last_event_id, event_count, tenant_ids, "
                "tenant_id, earliest_event_at, latest_event_at, source, status, created_at, failure_reason) FROM STDIN"
            ) as copy,
        ):
            for batch_id, lo, hi, count, earliest, latest, tenant in batches:
                copy.write_row(
                    (
                        batch_id,
                        lo,
                        hi,
                        count,
                        json.dumps([tenant]),
                        tenant,
                        earliest,
                        latest,
                        "ingest",
                        "pending",
                        now,
                        "",
                    )
                )
        conn.execute("SELECT setval(pg_get_serial_sequence('billing_usageevent', 'id'), %s)", [first_id + n])
        conn.execute(
            "SELECT setval(pg_get_serial_sequence('billing_ratingbatch', 'id'), %s)",
            [first_batch + len(batches)],
        )
        conn.commit()
        conn.execute("ANALYZE billing_usageevent")
        conn.execute("ANALYZE billing_ratingbatch")
        # Write the load's dirty pages out now, so that the checkpoint they would cause does not land in
        # the measured rating run (the events are left unvacuumed: raters set their hint bits, as in
        # production, where they read events committed moments before).
        conn.execute("CHECKPOINT")
    return time.perf_counter() - started


def rater(out: Any, start_at: float) -> None:
    django_setup()
    from django.db import connection

    from billing.rating.services import usage_rate_pending

    connection.ensure_connection()
    while time.time() < start_at:
        time.sleep(0.001)
    run = usage_rate_pending(batch_size=RATING_BATCH, time_budget=3600)
    out.put({"claimed": run.claimed, "finished": time.time()})


def producer(secret: str, seconds: int, out: Any) -> None:
    rng = random.Random(3)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {secret}"}
    interval = LATENCY_BATCH / RATE
    sent = 0
    started = time.time()
    next_at = started
    while time.time() < started + seconds:
        now = datetime.now(UTC)
        events = make_events(rng, LATENCY_BATCH, prefix=f"lat-{uuid.uuid4().hex[:8]}", now=now)
        for e in events:  # recent usage, so it lands in the open period
            e["timestamp"] = (now - timedelta(seconds=rng.randint(1, 30))).isoformat().replace("+00:00", "Z")
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)
        conn.request("POST", "/api/v1/usage", body=json.dumps({"events": events}).encode(), headers=headers)
        response = conn.getresponse()
        response.read()
        conn.close()
        sent += LATENCY_BATCH if response.status == 200 else 0
        next_at += interval
        time.sleep(max(0.0, next_at - time.time()))
    out.put({"sent": sent, "seconds": time.time() - started})


def start_worker() -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            str(ROOT / ".venv/bin/celery"),
            "-A",
            "config",
            "worker",
            "-P",
            "solo",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            "-l",
            "warning",
        ],
        cwd=ROOT,
        env=bench_env(CELERY_TASK_ALWAYS_EAGER="0"),
    )


def main() -> int:
    fresh_database()
    django_setup()
    fixture = seed(tenants=8)
    from django.core.cache import cache

    cache.clear()
    load_seconds = load_pending(EVENTS)
    print(
        f"rating: {EVENTS:,} pending events over the last {SPREAD_SECONDS / 3600:,.0f} h, "
        f"{'one tenant' if TENANT_BATCHES else 'every tenant'} per 1,000-event batch, "
        f"loaded by COPY in {load_seconds:.1f} s"
    )

    from django.db import connection

    connection.close()  # never share a connection with child processes
    spawn = mp.get_context("spawn")
    out: Any = spawn.Queue()
    start_at = time.time() + 4
    procs = [spawn.Process(target=rater, args=(out, start_at)) for _ in range(RATERS)]
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    elapsed = max(r["finished"] for r in results) - start_at
    claimed = sum(r["claimed"] for r in results)
    rate = claimed / elapsed
    from billing.rating.models import UsageAggregate
    from billing.usage.models import RatingBatch, UsageEvent
    from billing.usage.selectors import pending_backlog

    pending = pending_backlog()
    print(
        f"  {RATERS} rater processes, batches of {RATING_BATCH:,}: {claimed:,} events in {elapsed:.1f} s "
        f"= {rate:,.0f} events/s ({pending} left pending, {UsageAggregate.objects.count():,} aggregates)"
    )
    print(f"  {rate / 150_000:.2f}x the goal of 150,000 events/s: {'met' if rate >= 150000 else 'NOT met'}")

    if LATENCY_SECONDS <= 0:  # throughput only
        return 0

    # --- latency under a steady 5,000 events/s ---------------------------------------------------
    cache.clear()
    server = start_gunicorn(workers=2, USAGE_BACKLOG_MAX_PENDING="0")
    worker = start_worker()
    try:
        time.sleep(3)  # worker connects to the broker
        since = datetime.now(UTC)
        connection.close()
        out = spawn.Queue()
        prod = spawn.Process(target=producer, args=(fixture["secrets"][0], LATENCY_SECONDS, out))
        prod.start()
        produced = out.get()
        prod.join()
        deadline = time.time() + 60
        while time.time() < deadline and RatingBatch.objects.filter(status="pending").exists():
            time.sleep(0.5)
    finally:
        stop(server)
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    rows = list(
        UsageEvent.objects.filter(received_at__gte=since, rating_batch__status="rated").values_list(
            "received_at", "rating_batch__rated_at"
        )
    )
    latencies = [(r - s).total_seconds() for s, r in rows if r is not None]
    left = UsageEvent.objects.filter(received_at__gte=since, rating_batch__status="pending").count()
    print(
        f"  latency run: {produced['sent']:,} events in {produced['seconds']:.1f} s "
        f"({produced['sent'] / produced['seconds']:,.0f} events/s), gunicorn -w 2 + 1 Celery worker (solo)"
    )
    if latencies:
        print(
            f"  event-to-cost latency: p50 {percentile(latencies, 0.5):.2f} s, "
            f"p99 {percentile(latencies, 0.99):.2f} s, max {max(latencies):.2f} s "
            f"({len(latencies):,} rated, {left} still pending)"
        )
        p99 = percentile(latencies, 0.99)
        print(f"  p99 is {p99 / 2:.2f}x the goal of 2 s: {'met' if p99 < 2 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
