"""Prometheus metrics of the usage pipeline (registered in the default registry; django-prometheus or
prometheus_client's exposition serves them when /metrics is wired)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

INGEST_EVENTS = Counter(
    "billing_usage_ingest_events_total", "Usage events by ingest outcome", ["outcome", "reason"]
)
INGEST_REQUESTS = Counter(
    "billing_usage_ingest_requests_total", "Usage ingest requests by HTTP status", ["status"]
)
INGEST_AUTH_FAILURES = Counter("billing_usage_auth_failures_total", "Refused usage API callers", ["reason"])
INGEST_RATE_LIMITED = Counter(
    "billing_usage_rate_limited_total", "Requests refused by backpressure", ["kind"]
)
INGEST_LATENCY = Histogram(
    "billing_usage_ingest_seconds",
    "Time to validate, store and commit one ingest batch",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
RATING_NUDGE_FAILURES = Counter(
    "billing_rating_nudge_failures_total",
    "Rating nudges that could not be published (the sweeper catches up)",
)
RATING_BATCH_SIZE = Histogram(
    "billing_rating_batch_events", "Events per rated batch", buckets=(1, 10, 100, 1000, 5000, 10000, 50000)
)
RATING_BATCH_SECONDS = Histogram(
    "billing_rating_batch_seconds",
    "Duration of one rating batch transaction",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RATING_EVENTS = Counter("billing_rating_events_total", "Events processed by rating", ["outcome"])
RATING_LAG_SECONDS = Histogram(
    "billing_rating_lag_seconds",
    "From an ingest batch's receipt to its rating commit (event-to-cost latency)",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
RATING_FAILURES = Counter(
    "billing_rating_failures_total",
    "Rating work that failed for one tenant or batch and was set aside (the others went on)",
    ["stage"],
)
