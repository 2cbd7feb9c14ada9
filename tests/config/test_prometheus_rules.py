"""deploy/prometheus: every alert has promtool unit tests that see it fire and stay silent (`make promtool`
runs them), every rule reads metrics the app exports (or that the rules record), and the burn-rate
alerts are the SRE Workbook's windows and multiples."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from tests.common.promql import exported_metrics, metric_names

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load((DEPLOY / "billing.rules.yml").read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def unit_tests() -> list[dict[str, Any]]:
    return [
        case
        for path in sorted((DEPLOY / "tests").glob("*.yml"))
        for test in yaml.safe_load(path.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
    ]


def recorded() -> set[str]:
    return {rule["record"] for rule in rules() if "record" in rule}


def test_every_alert_has_a_firing_and_a_silent_unit_test():
    alerts = {rule["alert"] for rule in rules() if "alert" in rule}
    firing = {case["alertname"] for case in unit_tests() if case["exp_alerts"]}
    silent = {case["alertname"] for case in unit_tests() if not case["exp_alerts"]}

    assert len(alerts) == 13
    assert alerts - firing == set()
    assert alerts - silent == set()
    assert (firing | silent) - alerts == set()  # no test of an alert that does not exist


def test_every_rule_reads_metrics_the_app_exports_or_the_rules_record():
    known = exported_metrics() | recorded()
    unknown = {
        rule.get("alert") or rule["record"]: sorted(metric_names(rule["expr"]) - known) for rule in rules()
    }

    assert {name: names for name, names in unknown.items() if names} == {}


def test_every_slo_has_a_budget_and_an_error_ratio_per_window():
    budgets = {r["labels"]["slo"] for r in rules() if r.get("record") == "billing:slo_error_budget:ratio"}
    ratios = {
        (r["record"].rsplit(":", 1)[1], r["labels"]["slo"])
        for r in rules()
        if r.get("record", "").startswith("billing:slo_error_ratio:")
    }

    assert budgets == {"rating_latency", "attribution", "freshness", "ingest_availability"}
    assert ratios == {(f"rate{w}", slo) for w in ("5m", "30m", "1h", "6h", "3d") for slo in budgets}


def test_the_burn_rate_alerts_are_the_workbooks_windows_and_multiples():
    found = {}
    for rule in rules():
        if rule.get("alert", "").startswith("BillingErrorBudgetBurn"):
            windows = re.findall(
                r"billing:slo_error_ratio:rate(\w+) > on \(slo\) \(([\d.]+) \*", rule["expr"]
            )
            found[rule["alert"]] = (windows, rule["labels"]["severity"])

    assert found == {
        "BillingErrorBudgetBurnFast": ([("1h", "14.4"), ("5m", "14.4")], "page"),
        "BillingErrorBudgetBurnSlow": ([("6h", "6"), ("30m", "6")], "page"),
        "BillingErrorBudgetBurnTicket": ([("3d", "1"), ("6h", "1")], "ticket"),
    }
