"""The Celery application. Tasks are thin wrappers that call services (see each app's tasks.py).

Metrics: with PROMETHEUS_MULTIPROC_DIR set (the web's directory on this host: docs/operations.md,
"Metrics"), every pool process writes its metrics to files there and the web's `/metrics` adds them up;
a pool process that ends has its live gauges' files removed (its counters still count)."""

import os
from typing import Any

from celery import Celery
from celery.signals import worker_process_shutdown
from prometheus_client import multiprocess

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

app = Celery("billing_platform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_shutdown.connect
def _metrics_process_dead(pid: int | None = None, **kwargs: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(pid or os.getpid())  # type: ignore[no-untyped-call]
