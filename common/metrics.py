"""Every Prometheus metric object of the project (docs/operations.md, "Metrics"). Each process records into
prometheus_client's default registry, or into the files of PROMETHEUS_MULTIPROC_DIR when that is set (web
workers and Celery workers of one host share the directory); `/metrics` (config.metrics) serves the sum,
plus the scrape-time gauges of billing.observability.collector.

Conventions (checked by tests/common/test_metrics.py): the `billing_` prefix, base units (seconds), `_total`
on counters, histograms for latencies, and labels of a bounded set only: never a tenant, invoice, event or
user id. Record per batch, never per event in a loop."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# --- Ingest --------------------------------------------------------------------------------------------
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
# Attribution accuracy: events that could not be attributed (stored, not billed until re-attributed), by
# where it was found (`ingest`: unknown tenant, SKU, project, missing tag; `rating`: no profile version in
# force) and the reason without its detail (a missing tag's name is left out).
QUARANTINED_EVENTS = Counter(
    "billing_usage_quarantined_events_total",
    "Events quarantined (stored, not billed until re-attributed), by stage and reason",
    ["stage", "reason"],
)

# --- Rating --------------------------------------------------------------------------------------------
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
    "From an ingest batch's receipt to its rating commit (event-to-cost latency), per ingest batch",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600),
)
# The rating-latency SLI, weighted by events (the histogram above counts ingest batches): each rated
# batch's events are `met` when the batch was rated within settings.RATING_LAG_SLO_SECONDS of its receipt.
RATING_SLO_EVENTS = Counter(
    "billing_rating_slo_events_total",
    "Rated events by whether their batch was rated within RATING_LAG_SLO_SECONDS of receipt",
    ["result"],
)
RATING_FAILURES = Counter(
    "billing_rating_failures_total",
    "Rating work that failed for one tenant or batch and was set aside (the others went on)",
    ["stage"],
)
VERSION_LOOKUP_SECONDS = Histogram(
    "billing_version_lookup_seconds",
    "Resolving the profile versions in force (timeline and priced SKUs) for one rating batch",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)

# --- Period close, invoices, corrections, disputes ------------------------------------------------------
CLOSE_DURATION = Histogram(
    "billing_close_duration_seconds",
    "Duration of one close run (close_periods: the beat task's tenants or manage.py close_period)",
    buckets=(0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600),
)
CLOSE_PERIODS = Counter(
    "billing_close_periods_total",
    "Tenant periods handled by close, by result (finalized, blocked, draft, error, ...)",
    ["status"],
)
INVOICES_FINALIZED = Counter("billing_invoices_finalized_total", "Invoices finalized by period close")
CORRECTION_LINES = Counter(
    "billing_invoice_correction_lines_total", "Correction lines on invoices finalized by period close"
)
INVOICES_CORRECTED = Counter(
    "billing_invoices_corrected_total",
    "Invoices finalized by period close that carry at least one correction of an earlier period",
)
DISPUTES_OPENED = Counter("billing_disputes_opened_total", "Disputes opened by customers", ["reason"])

# --- Profile changes -----------------------------------------------------------------------------------
PROFILE_CHANGE_LEAD_TIME = Histogram(
    "billing_profile_change_lead_time_seconds",
    "From a profile version's approval to its being in force: max(effective_from, approved_at) - approved_at",
    buckets=(0, 60, 300, 3600, 6 * 3600, 86400, 3 * 86400, 7 * 86400, 30 * 86400, 90 * 86400),
)

# --- Signatures and documents ----------------------------------------------------------------------------
SIGNATURE_FAILURES = Counter(
    "billing_signature_failures_total",
    "Work refused because a profile version's approval signature does not verify, by stage",
    ["stage"],
)
DOCUMENT_FAILURES = Counter(
    "billing_document_failures_total",
    "Invoice and credit-note documents (PDF/A + e-invoice XML snapshot) not issued: they fail their checks",
    ["document"],
)
PDF_ENQUEUE_FAILURES = Counter(
    "billing_pdf_enqueue_failures_total",
    "Invoice PDF renders that could not be enqueued (ledger.pdf_sweep enqueues them later)",
)

# --- Reconciliation (set by the reconciliation run; docs/operations.md) -----------------------------------
# The absolute delta of one check, in the ledger's base currency. "mostrecent": under multiprocess mode the
# value last set by any process wins, and it outlives the worker process that set it.
RECONCILIATION_DELTA = Gauge(
    "billing_reconciliation_delta",
    "Absolute delta found by the last reconciliation of each check, in the ledger's base currency",
    ["check"],
    multiprocess_mode="mostrecent",
)

# --- Alert evaluators (billing.monitoring; docs/alerts-evaluation.md) --------------------------------------
ALERT_EVALUATION_FAILURES = Counter(
    "billing_alert_evaluation_failures_total",
    "Tenants (or pipeline checks) an alert evaluator could not evaluate; the others went on",
    ["evaluator"],
)
