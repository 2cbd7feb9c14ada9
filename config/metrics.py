"""`/metrics`: the Prometheus exposition of every metric of common.metrics plus the scrape-time gauges of
billing.observability.collector (docs/operations.md, "Metrics"). Not public:

- `Authorization: Bearer <METRICS_TOKEN>` is let in; a wrong token (or any token while METRICS_TOKEN is
  unset) gets 403, no credentials 401, and neither carries a metric;
- a client whose address (REMOTE_ADDR) is in METRICS_ALLOW_INTERNAL (addresses or networks) is let in
  without a token: for a scraper on a private network. Behind a reverse proxy REMOTE_ADDR is the proxy's,
  so never list a proxy that faces the internet.

With PROMETHEUS_MULTIPROC_DIR set (gunicorn workers, Celery workers: deploy/gunicorn.conf.py,
config/celery.py) the scrape reads every process's files, so whichever worker answers reports the sum of
all of them; without it, this process's own registry."""

from __future__ import annotations

import hmac
import ipaddress
import os
from collections.abc import Iterator

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from billing.observability.collector import BillingCollector

# The classic text format (0.0.4), which every Prometheus version reads (names are all ASCII here).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _ProcessRegistry(Collector):
    """This process's own metrics (the default registry), for a scrape outside multiprocess mode."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def scrape_registry() -> CollectorRegistry:
    """The registry one scrape reads: every process's metrics (or this process's), then the scrape-time
    gauges, read once per scrape."""
    registry = CollectorRegistry(auto_describe=False)
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    else:
        registry.register(_ProcessRegistry())
    registry.register(BillingCollector())
    return registry


def _allowed_address(address: str) -> bool:
    try:
        client = ipaddress.ip_address(address)
    except ValueError:
        return False
    for entry in settings.METRICS_ALLOW_INTERNAL:
        try:
            if client in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue  # config.settings.base refuses a malformed entry at start-up
    return False


def refusal(request: HttpRequest) -> HttpResponse | None:
    """None when the caller may read the metrics, else the answer to give (no metric in it)."""
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        expected = settings.METRICS_TOKEN
        if scheme.lower() == "bearer" and expected and hmac.compare_digest(token.strip(), expected):
            return None
        return HttpResponse("forbidden\n", status=403, content_type="text/plain")
    if _allowed_address(request.META.get("REMOTE_ADDR", "")):
        return None
    response = HttpResponse("authentication required\n", status=401, content_type="text/plain")
    response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    refused = refusal(request)
    if refused is not None:
        return refused
    return HttpResponse(generate_latest(scrape_registry()), content_type=CONTENT_TYPE)
