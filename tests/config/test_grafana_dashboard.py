"""deploy/grafana/billing-dashboard.json: a Grafana dashboard whose every query reads a metric the app
exports (a histogram by its suffixes) or one the Prometheus rules record, through the dashboard's
Prometheus data source variable."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from tests.common.promql import exported_metrics, metric_names

ROOT = Path(__file__).resolve().parents[2]


def dashboard() -> dict[str, Any]:
    return dict(json.loads((ROOT / "deploy" / "grafana" / "billing-dashboard.json").read_text()))


def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in items:
        yield panel
        yield from panels(panel.get("panels", []))  # a collapsed row holds its panels


def recorded() -> set[str]:
    document = yaml.safe_load((ROOT / "deploy" / "prometheus" / "billing.rules.yml").read_text())
    return {rule["record"] for group in document["groups"] for rule in group["rules"] if "record" in rule}


def queries() -> list[tuple[str, str]]:
    return [
        (panel["title"], target["expr"])
        for panel in panels(dashboard()["panels"])
        for target in panel.get("targets", [])
    ]


def test_every_query_reads_metrics_the_app_exports_or_the_rules_record():
    known = exported_metrics() | recorded()
    unknown = [(title, sorted(metric_names(expr) - known)) for title, expr in queries()]

    assert [item for item in unknown if item[1]] == []
    assert len(queries()) >= 40


def test_every_query_reads_some_metric():
    assert [title for title, expr in queries() if not metric_names(expr)] == []


def test_it_shows_every_sli_of_issue_15():
    read = {name for _title, expr in queries() for name in metric_names(expr)}
    slis = {
        "billing_rating_events_total",  # rated versus received
        "billing_usage_ingest_events_total",  # received; ingest outcomes by reason
        "billing_usage_quarantined_events_total",  # quarantined rate by reason
        "billing_rating_lag_seconds_bucket",  # cost-update latency
        "billing_rating_oldest_pending_age_seconds",  # pipeline lag
        "billing_rating_pending_events",  # queue depth
        "billing_celery_queue_messages",
        "billing_reconciliation_delta",
        "billing_invoices_corrected_total",  # correction rate per cycle
        "billing_invoice_correction_lines_total",
        "billing_profile_change_lead_time_seconds_bucket",
        "billing_disputes_opened_total",  # dispute rate
        "billing_invoices_finalized_total",
        "billing_signature_failures_total",
        "billing_document_failures_total",  # snapshot failures
        "billing_close_duration_seconds_bucket",
        "billing_invoices_blocked",
        "billing_alerts_open",
        "billing_version_lookup_seconds_bucket",
        "billing:slo_error_ratio:rate1h",
        "billing:slo_error_budget:ratio",
    }

    assert slis - read == set()


def test_it_is_a_dashboard_grafana_imports():
    board = dashboard()
    ids = [panel["id"] for panel in panels(board["panels"])]

    assert (board["uid"], board["title"]) == ("billing-platform", "Billing platform")
    assert len(ids) == len(set(ids))
    assert board["templating"]["list"][0]["type"] == "datasource"
    for panel in panels(board["panels"]):
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
            assert {"h", "w", "x", "y"} <= set(panel["gridPos"]), panel["title"]
