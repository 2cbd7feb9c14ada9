"""gunicorn settings of the web processes (docs/operations.md, "Metrics"):

    PROMETHEUS_MULTIPROC_DIR=/run/billing/metrics gunicorn -c deploy/gunicorn.conf.py config.wsgi

With PROMETHEUS_MULTIPROC_DIR set (the same directory as the Celery workers of this host, emptied before
any of them starts), each worker writes its metrics to files there and `/metrics` adds up all of them, so
whichever worker answers a scrape reports every worker's counts. When a worker exits, `child_exit` removes
its live gauges' files (its counters and histograms stay: they still count)."""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import multiprocess

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
accesslog = "-"


def on_starting(server: Any) -> None:
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        os.makedirs(directory, exist_ok=True)


def child_exit(server: Any, worker: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
