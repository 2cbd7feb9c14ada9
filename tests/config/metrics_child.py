"""The body of a separate process for tests/config/test_metrics_multiprocess.py (run with the `spawn` start
method, so prometheus_client is imported afresh there with PROMETHEUS_MULTIPROC_DIR set). Nothing here
imports prometheus_client at module level."""

from __future__ import annotations

import os


def record(directory: str, amount: int) -> None:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    from prometheus_client import Gauge

    from common import metrics

    metrics.INGEST_REQUESTS.labels(status="202").inc(amount)
    metrics.RATING_LAG_SECONDS.observe(amount)
    metrics.RECONCILIATION_DELTA.labels(check="rated_vs_invoiced").set(amount)
    # A live gauge (its process's series vanish when the process is marked dead), outside any registry.
    Gauge("billing_test_live_workers", "Processes alive", multiprocess_mode="livesum", registry=None).set(1)
