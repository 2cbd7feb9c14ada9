"""Every metric the app exports follows the conventions (docs/operations.md, "Metrics"): the `billing_`
prefix, `_total` on counters and only on them, base units, histograms for latencies, bounded labels
(never an id), gauges with a deliberate multiprocess mode, and every metric object in common.metrics."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client import Gauge
from prometheus_client.metrics import MetricWrapperBase

from common import metrics
from tests.common.promql import exported_metrics, families, metric_names

# Labels that would carry an id of a tenant, invoice, event or user (or any id): unbounded series.
FORBIDDEN_LABEL = re.compile(r"tenant|invoice|event|user|customer|slug|number|(^|_)ids?$|^pk$|key")
# What an exported name may end with: a base unit, or what it counts.
UNITS = ("_seconds", "_events", "_messages", "_total", "_delta", "_open", "_blocked", "_up")


def project_metric_objects() -> list[MetricWrapperBase]:
    return [value for value in vars(metrics).values() if isinstance(value, MetricWrapperBase)]


def test_every_project_metric_object_lives_in_common_metrics():
    registered = {family.name for family in families() if not family.scraped}

    assert registered == {m._name for m in project_metric_objects()}


def test_every_metric_name_has_the_billing_prefix():
    names = sorted(family.name for family in families())

    assert [n for n in names if not n.startswith("billing_")] == []
    assert len(names) == len(set(names))


def test_counters_and_only_counters_end_in_total():
    for family in families():
        if family.type == "counter":
            assert not family.name.endswith("_total"), family.name  # exported as <name>_total
        else:
            assert not family.name.endswith("_total"), f"{family.name} is a {family.type}"


def test_latencies_are_histograms_in_seconds():
    timed = [f for f in families() if re.search(r"seconds|duration|latency|lag", f.name)]

    assert {f.name for f in timed if f.type != "histogram"} == {
        "billing_rating_oldest_pending_age_seconds",  # an age read at scrape time, not a latency
        "billing_metrics_collect_seconds",  # the scrape's own reading time
    }
    assert [f.name for f in timed if not f.name.endswith("_seconds")] == []


def test_names_end_in_a_base_unit_or_what_they_count():
    assert [n for n in exported_metrics() if not n.endswith((*UNITS, "_bucket", "_sum", "_count"))] == []


def test_no_label_names_a_tenant_invoice_event_user_or_id():
    offending = [(f.name, label) for f in families() for label in f.labels if FORBIDDEN_LABEL.search(label)]

    assert offending == []


def test_every_gauge_says_how_processes_add_up():
    """Under multiprocess mode a gauge without a deliberate mode would report one series per process."""
    gauges = [m for m in project_metric_objects() if isinstance(m, Gauge)]

    assert {m._name: m._multiprocess_mode for m in gauges} == {"billing_reconciliation_delta": "mostrecent"}


def test_the_slis_are_exported():
    names = exported_metrics()
    slis = {
        "billing_usage_ingest_events_total",  # received; ingest outcomes by reason
        "billing_rating_events_total",  # rated
        "billing_usage_quarantined_events_total",  # quarantined, by stage and reason
        "billing_rating_lag_seconds_bucket",  # ingest -> rated latency
        "billing_rating_slo_events_total",
        "billing_rating_oldest_pending_age_seconds",  # pipeline lag
        "billing_rating_pending_events",  # queue depth
        "billing_celery_queue_messages",
        "billing_reconciliation_delta",
        "billing_invoice_correction_lines_total",  # correction rate per cycle
        "billing_invoices_corrected_total",
        "billing_invoices_finalized_total",
        "billing_profile_change_lead_time_seconds_bucket",
        "billing_disputes_opened_total",  # dispute rate (over invoices finalized)
        "billing_signature_failures_total",
        "billing_document_failures_total",
        "billing_close_duration_seconds_bucket",
        "billing_invoices_blocked",
        "billing_alerts_open",
        "billing_version_lookup_seconds_bucket",
    }

    assert slis - names == set()


def test_metric_names_of_an_expression_leave_out_promql_words_labels_and_ranges():
    expr = (
        'histogram_quantile(0.99, sum by (le) (rate(billing_rating_lag_seconds_bucket{job="x"}[5m])))'
        " / on(slo) group_left() billing:slo_error_budget:ratio > bool 0.5 offset 1h"
    )

    assert metric_names(expr) == {"billing_rating_lag_seconds_bucket", "billing:slo_error_budget:ratio"}


def test_no_module_outside_common_metrics_makes_a_metric_object():
    root = Path(__file__).resolve().parents[2]
    made = re.compile(r"\b(Counter|Gauge|Histogram|Summary|Info|Enum)\(\s*[\"']")
    found = [
        str(path.relative_to(root))
        for package in ("config", "common", "tenants", "ledger", "billing", "portal", "deploy")
        for path in (root / package).rglob("*.py")
        if path != root / "common" / "metrics.py" and made.search(path.read_text())
    ]

    assert found == []
